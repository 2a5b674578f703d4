from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.checkpoint import Checkpoint


class CheckpointReader(Protocol):
    """Reads a trainer's output folder into a Checkpoint, or raises UserInputError saying what is wrong."""

    def read(self, path: Path, base: str | None = None) -> Checkpoint: ...
