from __future__ import annotations

from pathlib import Path
from typing import Protocol


class SystemProbe(Protocol):
    """Facts about this machine and the libraries hubship drives. A path that does not exist yet is measured
    at its nearest existing parent."""

    def tool_versions(self) -> dict[str, str]: ...

    def free_disk_bytes(self, path: Path) -> int: ...

    def volume_id(self, path: Path) -> str:
        """The same string for two paths on one filesystem (they share its free space; hard links work)."""
        ...

    def free_memory_bytes(self) -> int: ...

    def has_nvidia_gpu(self) -> bool:
        """An NVIDIA GPU that torch can use (CUDA): the one definition of "has a GPU", for the merge backend and the
        device the verification probe runs on."""
        ...

    def os_name(self) -> str:
        """linux, windows or darwin."""
        ...

    def long_paths_supported(self) -> bool:
        """False only on a Windows without LongPathsEnabled (paths then stop at 260 characters)."""
        ...
