from __future__ import annotations

import contextlib
from collections.abc import Iterator


class FakeTask:
    def __init__(self) -> None:
        self.done = 0.0

    def advance(self, amount: float = 1) -> None:
        self.done += amount


class FakeProgress:
    """Records every task and message instead of drawing them."""

    def __init__(self) -> None:
        self.tasks: list[str] = []
        self.messages: list[str] = []

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "") -> Iterator[FakeTask]:
        self.tasks.append(description)
        yield FakeTask()

    def message(self, text: str) -> None:
        self.messages.append(text)
