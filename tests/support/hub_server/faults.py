"""Faults the local Hub stand-in can inject, configured from tests (in process or over `/_admin/faults`).

A fault matches requests by method and a regular expression on the path (and, for uploads, a minimum
body size), fires `times` times (-1: until cleared), then stops matching. Kinds:

- `status`: answer `status` (e.g. 503, 429) before doing anything, with `Retry-After` when given;
- `after`: do the work, then answer `status` instead of the real answer (a lost response);
- `drop`: read `after_bytes` of the request body, then close the connection without an answer;
- `stall`: read `after_bytes`, then hold the connection until `release()` (then drop it);
- `concurrent_commit`: land another writer's commit on the branch just before this commit is applied.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

KINDS = ("status", "after", "drop", "stall", "concurrent_commit")


@dataclass
class Fault:
    kind: str
    path: str = ".*"
    method: str | None = None
    status: int = 503
    times: int = 1
    after_bytes: int = 0
    min_size: int = 0
    retry_after: str | None = "0"
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {KINDS}")
        self._pattern = re.compile(self.path)

    def matches(self, method: str, path: str, size: int) -> bool:
        return (
            (self.method is None or self.method.upper() == method)
            and bool(self._pattern.search(path))
            and size >= self.min_size
            and (self.times < 0 or self.fired < self.times)
        )


@dataclass
class Faults:
    """The active faults, and an event that releases stalled connections."""

    active: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    stalled: int = 0
    dropped: int = 0

    def add(self, **spec: Any) -> Fault:
        fault = Fault(**spec)
        with self.lock:
            self.active.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.active.clear()
        self.release()

    def release(self) -> None:
        self.released.set()

    def take(self, method: str, path: str, size: int = 0) -> Fault | None:
        """The first matching fault (counted as fired), or None."""
        with self.lock:
            for fault in self.active:
                if fault.matches(method, path, size):
                    fault.fired += 1
                    if fault.kind == "stall":
                        self.released.clear()
                    return fault
        return None
