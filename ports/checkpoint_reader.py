from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.checkpoint import Checkpoint


class CheckpointReader(Protocol):
    """Reads a trainer's output folder into a Checkpoint (an adapter or a full model; in a run folder of
    `checkpoint-N/` folders, the one `pick` names: last, best or N, by default the root's final model, else the
    last), or raises UserInputError saying what is wrong."""

    def read(self, path: Path, base: str | None = None, pick: str | None = None, *, check_values: bool = True) -> Checkpoint:
        """`check_values=False` leaves out what reads the weights' values (NaN/inf), for `check_values` to do later."""
        ...

    def check_values(self, checkpoint: Checkpoint) -> None:
        """Refuse weights holding NaN or infinite values (UserInputError); reads them."""
        ...
