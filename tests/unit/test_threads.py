"""domain.threads: a compute step runs on the cores other processes leave free."""

from __future__ import annotations

import pytest

from hubship.domain.threads import spare_threads


@pytest.mark.parametrize(
    ("cores", "busy", "threads"),
    [(2, 0.0, 2), (2, 0.9, 1), (2, 3.5, 1), (16, 4.2, 12), (16, None, 16), (None, None, 1), (8, -1.0, 8)],
)
def test_threads_are_the_cores_left_free_and_at_least_one(cores, busy, threads):
    assert spare_threads(cores, busy) == threads


def test_time_of_niced_processes_is_free_unless_hubship_is_niced_itself():
    """/proc/stat's cpu line: user nice system idle iowait irq softirq steal. A niced job beside hubship gets about 1.5%
    of a core it shares, so its time counts as free; a niced hubship shares as an equal, so then it counts as busy."""
    from hubship.adapters.llama_cpp.threads import free_jiffies

    line = "cpu  100 900 50 800 20 5 5 0 0 0"
    assert free_jiffies(line, count_nice=True) == (800 + 20 + 900, 1880)
    assert free_jiffies(line, count_nice=False) == (800 + 20, 1880)
