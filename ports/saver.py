from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.ports.progress import Progress


class Saver(Protocol):
    """Writes checkpoint files into an artifact folder.

    Tokenizer files, chat template, special tokens and generation config come from the
    checkpoint when it has them, and from the base only otherwise.
    """

    def save_adapter(self, checkpoint: Checkpoint, out_dir: Path, progress: Progress, *, base_model_id: str | None = None) -> None:
        """The adapter's weights and config, the config naming `base_model_id` (a hub id, or None: no local path)."""
        ...

    def save_tokenizer(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path) -> tuple[str, ...]:
        """The tokenizer files, chat template and generation config; returns notes for the card (what came from the
        base, and why)."""
        ...
