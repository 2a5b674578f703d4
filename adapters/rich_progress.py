"""Progress with rich bars (speed and time left) on stderr; silent when quiet or writing JSON."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


class _Task:
    def __init__(self, bar: Progress | None, task_id: int | None) -> None:
        self._bar, self._id = bar, task_id

    def advance(self, amount: float = 1) -> None:
        if self._bar is not None and self._id is not None:
            self._bar.advance(self._id, amount)  # type: ignore[arg-type]


class RichProgress:
    def __init__(self, quiet: bool = False) -> None:
        self._quiet = quiet
        self._console = Console(stderr=True)

    def message(self, text: str) -> None:
        if not self._quiet:
            self._console.print(f"· {text}", highlight=False, markup=False)

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "") -> Iterator[_Task]:
        if self._quiet:
            yield _Task(None, None)
            return
        counter = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
        bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            *counter,
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        with bar:
            task_id = bar.add_task(description, total=total)
            yield _Task(bar, task_id)
            if total is not None:
                bar.update(task_id, completed=total)
