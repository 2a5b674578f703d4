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
