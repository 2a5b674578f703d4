from __future__ import annotations

from pathlib import Path
from typing import Protocol


class SystemProbe(Protocol):
    """Facts about this machine and the libraries hubship drives."""

    def tool_versions(self) -> dict[str, str]: ...

    def free_disk_bytes(self, path: Path) -> int: ...

    def free_memory_bytes(self) -> int: ...

    def has_nvidia_gpu(self) -> bool: ...

    def os_name(self) -> str: ...
