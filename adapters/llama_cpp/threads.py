"""The thread count a compute step runs with (llama.cpp's steps; torch's probe, as the container wires it): the cores other
processes leave free (domain.threads).

Measured from /proc/stat over a tenth of a second between steps, when this process is idle, so its own
last step does not count (a load average would: after a step on 16 threads it would leave 1). Where there
is no /proc/stat, every core.
"""

from __future__ import annotations

import os
import time

from hubship.domain.threads import spare_threads

SAMPLE_S = 0.1


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all cores since boot."""
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    return values[3] + values[4], sum(values)  # idle + iowait


def free_threads() -> int:
    cores = os.cpu_count() or 1
    try:
        idle0, total0 = _cpu_times()
        time.sleep(SAMPLE_S)
        idle1, total1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return cores
    elapsed = total1 - total0
    busy = cores * (1 - (idle1 - idle0) / elapsed) if elapsed > 0 else None
    return spare_threads(cores, busy)
