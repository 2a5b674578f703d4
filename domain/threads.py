"""How many threads a compute step should run: the cores that other processes do not keep busy.

OpenMP-style workers that share a core wait on each other at every barrier: on 2 cores with one busy,
2 threads ran torch's probe 4x slower than 1, and llama.cpp's chat completion 4x slower (8.0 s against
1.7 s). So a step runs on the cores that other processes leave free.
"""

from __future__ import annotations


def spare_threads(cores: int | None, busy: float | None) -> int:
    """`cores` less the cores other processes keep `busy` (None when unknown: every core), at least 1."""
    return max(1, (cores or 1) - max(0, round(busy or 0)))
