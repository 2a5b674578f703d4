"""Freed memory handed back to the OS, so that a process's RSS follows what it holds rather than what it once held."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys
from typing import Any


@functools.cache
def _libc() -> Any:
    """glibc, for malloc_trim; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_freed_memory(collect: bool = False) -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and RSS would grow by a layer's worth);
    `collect` first frees a model's reference cycles."""
    if collect:
        gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
