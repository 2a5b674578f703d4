"""Progress with rich bars (speed and time left) on stderr; silent when quiet or writing JSON.

With `events` set (the CLI passes HUBSHIP_PROGRESS_EVENTS), every step start, advance and end is
also appended as one JSON line to that file, for trainers and GUIs that follow a publish.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class _EventLog:
    def __init__(self, path: Path | None) -> None:
        self._path = path

    def write(self, **event: Any) -> None:
        if self._path is None:
            return
        with self._path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"time": round(time.time(), 3), **event}) + "\n")


class _Task:
    def __init__(self, description: str, bar: Progress | None, task_id: int | None, log: _EventLog) -> None:
        self._description, self._bar, self._id, self._log = description, bar, task_id, log
        self._done = 0.0

    def advance(self, amount: float = 1) -> None:
        self._done += amount
        self._log.write(event="advance", task=self._description, done=self._done)
        if self._bar is not None and self._id is not None:
            self._bar.advance(self._id, amount)  # type: ignore[arg-type]


class _RateColumn(ProgressColumn):
    """Speed of a counted step (files/s, tensors/s); byte counts use rich's TransferSpeedColumn."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit or "it"

    def render(self, task: Any) -> Text:
        return Text("" if task.speed is None else f"{task.speed:.1f} {self._unit}/s", style="progress.data.speed")


class RichProgress:
    def __init__(self, quiet: bool = False, events: str | None = None) -> None:
        self._quiet = quiet
        self._console = Console(stderr=True)
        self._log = _EventLog(Path(events) if events else None)

    def message(self, text: str) -> None:
        self._log.write(event="message", text=text)
        if not self._quiet:
            self._console.print(f"· {text}", highlight=False, markup=False)

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "") -> Iterator[_Task]:
        self._log.write(event="start", task=description, total=total, unit=unit)
        if self._quiet:
            yield _Task(description, None, None, self._log)
            self._log.write(event="end", task=description)
            return
        counter = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(), _RateColumn(unit))
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
            yield _Task(description, bar, task_id, self._log)
            if total is not None:
                bar.update(task_id, completed=total)
        self._log.write(event="end", task=description)
