from __future__ import annotations

from pathlib import Path
from typing import Protocol


class CheckpointFactory(Protocol):
    """Builds a small but real base model and LoRA checkpoint (for `hubship demo` and the tests)."""

    def create(self, root: Path) -> tuple[Path, Path]:
        """Returns (base_dir, checkpoint_dir) under `root`."""
        ...
