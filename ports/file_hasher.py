from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.manifest import FileEntry
from hubship.ports.progress import Progress


class FileHasher(Protocol):
    """sha256 and size of files; may cache by (path, size, mtime) so a big base is hashed once."""

    def hash_file(self, path: Path, *, cached: bool = True) -> FileEntry:
        """`cached=False` always reads the bytes (what `verify` needs)."""
        ...

    def lookup(self, path: Path) -> FileEntry | None:
        """The cached entry when the file is unchanged since it was hashed (stat only, no bytes read), else None."""
        ...

    def hash_tree(self, root: Path, progress: Progress | None = None) -> tuple[FileEntry, ...]: ...
