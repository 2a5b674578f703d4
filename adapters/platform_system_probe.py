"""SystemProbe from the standard library: package versions, free disk/RAM, GPU presence, OS."""

from __future__ import annotations

import os
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DRIVEN = (
    "hubship",
    "torch",
    "transformers",
    "peft",
    "safetensors",
    "huggingface_hub",
    "bitsandbytes",
    "llama_cpp_python",
    "gguf",
    "unsloth",
    "ollama",
)


class PlatformSystemProbe:
    def tool_versions(self) -> dict[str, str]:
        found = {}
        for name in DRIVEN:
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                continue
        return found

    def free_disk_bytes(self, path: Path) -> int:
        probe = Path(path).expanduser().absolute()
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        return shutil.disk_usage(probe).free

    def free_memory_bytes(self) -> int:
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 0

    def has_nvidia_gpu(self) -> bool:
        return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists()

    def os_name(self) -> str:
        return platform.system().lower()
