from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from hubship.domain.checkpoint import BaseInfo, Checkpoint

EXACT = {"max_abs_diff": 0.0, "mean_kl": 0.0, "top1_agreement": 1.0, "top1_near": 1.0}


class FakeVerifier:
    """Measures nothing: writes a stand-in reference and reports `figures` for every model (a merge that equals its
    reference, by default), recording which checkpoints it took references of."""

    def __init__(self, figures: Mapping[str, float] | None = None) -> None:
        self.figures = dict(figures or EXACT)
        self.references: list[str] = []

    def reference(self, checkpoint: Checkpoint, base: BaseInfo, out_file: Path, progress, tokens: int = 256) -> None:
        self.references.append(checkpoint.root)
        out_file.write_text(json.dumps({"of": checkpoint.root}))

    def compare(self, model_dir: Path, reference_file: Path, progress, tokens: int | None = None) -> dict[str, float]:
        return dict(self.figures)
