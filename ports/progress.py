from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol


class ProgressTask(Protocol):
    """One running step: advance it as work completes."""

    def advance(self, amount: float = 1) -> None: ...


class Progress(Protocol):
    """Reports long steps (merge, convert, quantize, hash, upload) and short messages to the user."""

    def task(self, description: str, total: float | None = None, unit: str = "") -> AbstractContextManager[ProgressTask]: ...

    def message(self, text: str) -> None: ...
