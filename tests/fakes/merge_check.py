from __future__ import annotations

from pathlib import Path
from typing import Any

from hubship.domain.checkpoint import BaseInfo, Checkpoint


class FakeMergeCheck:
    """Checks nothing: reports every merged tensor exact (`merge_error` 0), or the layers given as `uncovered`, and
    records which model folders it was asked about."""

    def __init__(self, uncovered: tuple[str, ...] = ()) -> None:
        self.uncovered = list(uncovered)
        self.checked: list[Path] = []

    def check(self, checkpoint: Checkpoint, base: BaseInfo, model_dir: Path, dtype: str, progress: Any) -> dict[str, Any]:
        self.checked.append(model_dir)
        if self.uncovered:
            return {"tensors": 0, "uncovered": self.uncovered}
        return {"merge_error": 0.0, "tensors": 1, "uncovered": []}
