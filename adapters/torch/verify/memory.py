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


@functools.cache
def _freeze_once() -> None:
    """Freeze what survived the first collection (gc.freeze): mostly the libraries' own objects, hundreds of
    thousands once torch and transformers are imported, which every later full collection would walk again (0.4 s
    each) and never free. Once per process, so objects made later are collected as usual."""
    gc.freeze()


def release_freed_memory(collect: bool = False) -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and RSS would grow by a layer's worth);
    `collect` first frees a model's reference cycles."""
    if collect:
        gc.collect()
        _freeze_once()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
