"""SystemProbe from the standard library: package versions, free disk/RAM, GPU presence, OS.

"Has a GPU" has one definition here, used by every choice that depends on it (the merge backend, the device the
verification probe runs on): an NVIDIA driver is present (checked without imports) and torch reports a CUDA
device it can use. torch is imported only when a driver is there.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Mapping
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
    "jinja2",
    "mlx",
    "mlx_lm",
)


def _existing(path: Path) -> Path:
    """`path`, or its nearest existing parent (a destination is often created by the publish itself)."""
    probe = Path(path).expanduser().absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe


def _nvidia_driver() -> bool:
    """An NVIDIA driver on this machine (its tool on PATH, or the Linux kernel module's version file)."""
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists()


def _torch_cuda() -> bool:
    """torch is installed and reports a usable CUDA device (a CUDA build, not ROCm's)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available() and torch.version.cuda)


def _go_version() -> str | None:
    """The Go toolchain on PATH (Ollama templates are checked with it), from its VERSION file when it has one."""
    go = shutil.which("go")
    if go is None:
        return None
    stamp = Path(go).resolve().parent.parent / "VERSION"
    try:
        if stamp.is_file():
            return stamp.read_text().split()[0].removeprefix("go")
        done = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=10)
    except (OSError, IndexError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().removeprefix("go") or None


class PlatformSystemProbe:
    def __init__(
        self,
        more_versions: Callable[[], Mapping[str, str]] | None = None,
        *,
        driver: Callable[[], bool] = _nvidia_driver,
        cuda: Callable[[], bool] = _torch_cuda,
    ) -> None:
        """`more_versions`: the versions of tools other adapter packages install (the container wires them);
        `driver` and `cuda`: the two facts "has a GPU" is made of (tests replace them)."""
        self._more_versions = more_versions
        self._driver, self._cuda = driver, cuda
        self._gpu: bool | None = None

    def tool_versions(self) -> dict[str, str]:
        found = dict(self._more_versions() if self._more_versions else {})
        for name in DRIVEN:
            try:
                found[name] = version(name)
            except PackageNotFoundError:
                continue
        if go := _go_version():
            found["go"] = go
        return found

    def free_disk_bytes(self, path: Path) -> int:
        return shutil.disk_usage(_existing(path)).free

    def volume_id(self, path: Path) -> str:
        return str(_existing(path).stat().st_dev)

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
        if self._gpu is None:  # asked once: importing torch to ask CUDA costs seconds
            self._gpu = self._driver() and self._cuda()
        return self._gpu

    def os_name(self) -> str:
        return platform.system().lower()

    def long_paths_supported(self) -> bool:
        if self.os_name() != "windows":
            return True
        try:
            import winreg  # Windows only

            with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\FileSystem") as key:
                return winreg.QueryValueEx(key, "LongPathsEnabled")[0] == 1
        except OSError:
            return False
