from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class MlxVerifier(Protocol):
    """Runs the reference's probe (its token ids) through MLX models as mlx-lm loads them, and compares the logits.

    The reference file holds `input_ids` (int64 [T]) and `logits` (float32 [T, vocab]) of base + adapter.
    """

    def measure(self, artifact_dir: Path, source_dir: Path, reference_file: Path, progress: Progress) -> dict[str, float]:
        """The artifact against the reference (mean_kl, max_abs_diff, top1_agreement, top1_near), and the difference split
        in two: `runtime_kl` / `runtime_top1`, the merged model in `source_dir` as mlx-lm runs it unquantized (16-bit)
        against the reference; `quantization_kl` / `quantization_top1`, the artifact against that 16-bit run."""
        ...
