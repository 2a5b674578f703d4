from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


class FakeSystemProbe:
    """A machine described by the test: volumes by path prefix ({prefix: (volume id, free bytes)}), OS, GPU, packages."""

    def __init__(
        self,
        volumes: Mapping[str, tuple[str, int]] | None = None,
        *,
        os_name: str = "linux",
        long_paths: bool = True,
        gpu: bool = False,
        versions: Mapping[str, str] | None = None,
        free_memory: int = 64 * 1000**3,
    ) -> None:
        self._volumes = dict(volumes or {"/": ("root", 10**15)})
        self._os, self._long_paths, self._gpu = os_name, long_paths, gpu
        self._versions = {"hubship": "0", **(versions or {})}
        self._free_memory = free_memory

    def _volume(self, path: Path) -> tuple[str, int]:
        text = str(Path(path).absolute())
        prefix = max((p for p in self._volumes if text.startswith(p)), key=len, default=None)
        return self._volumes[prefix] if prefix is not None else ("root", 10**15)

    def tool_versions(self) -> dict[str, str]:
        return dict(self._versions)

    def free_disk_bytes(self, path: Path) -> int:
        return self._volume(path)[1]

    def volume_id(self, path: Path) -> str:
        return self._volume(path)[0]

    def free_memory_bytes(self) -> int:
        return self._free_memory

    def has_nvidia_gpu(self) -> bool:
        return self._gpu

    def os_name(self) -> str:
        return self._os

    def long_paths_supported(self) -> bool:
        return self._long_paths
