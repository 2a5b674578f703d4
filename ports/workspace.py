from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol


class Workspace(Protocol):
    """Holds built artifacts by content key. An artifact appears only once it is complete."""

    @property
    def root(self) -> Path: ...

    def prepare(self) -> None:
        """Create the workspace if needed; raise UserInputError if it cannot be written."""
        ...

    def has(self, key: str) -> bool: ...

    def path(self, key: str) -> Path: ...

    def staging(self, key: str) -> AbstractContextManager[Path]:
        """A fresh empty folder; on success it becomes `path(key)` atomically, on error it is removed."""
        ...

    def lock(self, name: str) -> AbstractContextManager[None]:
        """Exclusive use of `name` across processes; waits with a message, or fails with one line."""
        ...
