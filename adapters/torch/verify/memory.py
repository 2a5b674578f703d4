"""Freed memory handed back to the OS, so that a process's RSS follows what it holds rather than what it once held."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Iterator
from typing import Any

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
MAPPED_FROM = 1 << 20  # inside `large_blocks_mapped`, every block of 1 MiB or more is its own mapping
DYNAMIC_MAX = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)  # glibc's own ceiling for its moving threshold (32 MiB)


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


@contextlib.contextmanager
def large_blocks_mapped() -> Iterator[None]:
    """Inside, glibc maps every block of MAPPED_FROM bytes or more on its own and unmaps it on free.

    glibc raises its mmap threshold each time a mapped block is freed (up to 32 MiB), after which tensors of a few MB
    come from the heap, whose freed pages stay behind. Measured on transformers' on-the-fly 4-bit load of a 190M Llama:
    the peak RSS was 830 to 1296 MB from one run to the next, and 760 MB (within 5 MB) with the threshold fixed.
    After the block the threshold is left at glibc's ceiling, as a long-running process ends up anyway."""
    libc = _libc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, MAPPED_FROM)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, DYNAMIC_MAX)
