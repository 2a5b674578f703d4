"""The thread count a compute step runs with (llama.cpp's steps; torch's probe, as the container wires it): the cores other
processes leave free (domain.threads).

Measured from /proc/stat over a tenth of a second between steps, when this process is idle, so its own
last step does not count (a load average would: after a step on 16 threads it would leave 1). Where there
is no /proc/stat, every core. Time spent by niced processes counts as free when this process is not niced itself:
the kernel gives such a process about 1.5% of a core it shares with us (weights 15 against 1024), so it barely slows
a worker, where counting it halved the threads of an 8B quantization for minutes (issue 28's bench_large, a niced
test run beside it).
"""

from __future__ import annotations

import os
import time

from hubship.domain.threads import spare_threads

SAMPLE_S = 0.1


def free_jiffies(stat_line: str, count_nice: bool) -> tuple[int, int]:
    """(free, total) jiffies of the `cpu` line of /proc/stat: idle and iowait, and the niced processes' time when
    `count_nice` (user nice system idle iowait irq softirq steal)."""
    user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in stat_line.split()[1:9])
    return idle + iowait + (nice if count_nice else 0), user + nice + system + idle + iowait + irq + softirq + steal


def _cpu_times(count_nice: bool) -> tuple[int, int]:
    with open("/proc/stat", encoding="ascii") as fh:
        return free_jiffies(fh.readline(), count_nice)


def free_threads() -> int:
    cores = os.cpu_count() or 1
    count_nice = os.nice(0) == 0  # a niced hubship shares its cores with other niced processes as equals
    try:
        free0, total0 = _cpu_times(count_nice)
        time.sleep(SAMPLE_S)
        free1, total1 = _cpu_times(count_nice)
    except (OSError, ValueError, IndexError):
        return cores
    elapsed = total1 - total0
    busy = cores * (1 - (free1 - free0) / elapsed) if elapsed > 0 else None
    return spare_threads(cores, busy)
