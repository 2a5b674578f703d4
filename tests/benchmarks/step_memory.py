"""Peak memory of each step of one `hubship publish`, measured from outside the step (a benchmark helper).

Run:  python tests/benchmarks/step_memory.py REPORT.json publish CHECKPOINT -f ... (hubship's own arguments)

It runs hubship in this process (as `python -m hubship` would) with its progress events sent to a FIFO
(HUBSHIP_PROGRESS_EVENTS). A step starts at its `building FORMAT` message; the hashing and publishing after
the last build are a step of their own, `(hash, publish)`, and everything before the first build is
`(start, plan, preflight)`. At each step boundary the high-water mark (VmHWM) of this process and of every
process it started (llama.cpp's converter, llama-imatrix...) is read and then reset to the current RSS
(`echo 5 > /proc/PID/clear_refs`), so each step's figure is the peak reached during that step, counting
what was already resident when it started. A sampler thread also reads the processes every 10 ms, for the
tools that start and end within a step and for the total of the process tree.

Within a step each progress task (`merge (streaming)`, `quantize Q8_0`...) is a part of its own, measured
the same way, so a step's figure can be traced to what it did.

REPORT gets [{"step", "main", "tools", "tree", "parts": [{"part", ...}]}, ...] in step order, in bytes:
`main` this process's peak, `tools` the highest peak of a process it started, `tree` the highest sampled
sum of all of them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import sys
import tempfile
import threading
import time
from pathlib import Path

START, AFTER = "(start, plan, preflight)", "(hash, publish)"


def _kib(pid: int | str, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:  # the process ended
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


def _reset(pid: int | str) -> None:
    with contextlib.suppress(OSError):  # the process ended
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class StepMemory:
    """The peaks of the current part of the current step, closed and reset at each boundary."""

    def __init__(self) -> None:
        self.parts: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._open(START, "")

    @property
    def step(self) -> str:
        return str(self.parts[-1]["step"])

    def _open(self, step: str, part: str) -> None:
        self.parts.append({"step": step, "part": part, "main": 0, "tools": 0, "tree": 0})

    def sample(self) -> None:
        with self._lock:
            children = _descendants(os.getpid())
            current = self.parts[-1]
            current["tools"] = max(int(current["tools"]), *(_kib(c, "VmHWM") for c in children), 0)
            tree = _kib("self", "VmRSS") + sum(_kib(c, "VmRSS") for c in children)
            current["tree"] = max(int(current["tree"]), tree)

    def boundary(self, step: str, part: str = "") -> None:
        self.sample()
        with self._lock:
            self.parts[-1]["main"] = _kib("self", "VmHWM")
            for pid in ("self", *_descendants(os.getpid())):
                _reset(pid)
            self._open(step, part)

    def close(self) -> None:
        self.sample()
        with self._lock:
            self.parts[-1]["main"] = _kib("self", "VmHWM")

    def steps(self) -> list[dict[str, object]]:
        """The parts merged by step, in order: each figure the highest of its parts."""
        merged: dict[str, dict[str, object]] = {}
        for part in self.parts:
            into = merged.setdefault(str(part["step"]), {"step": part["step"], "main": 0, "tools": 0, "tree": 0, "parts": []})
            for field in ("main", "tools", "tree"):
                into[field] = max(int(into[field]), int(part[field]))
            into["parts"].append(part)  # type: ignore[union-attr]
        return list(merged.values())


def _follow(fifo: str, memory: StepMemory) -> None:
    """Read progress events as they are written. A `building X` message starts step X; the first hash or publish
    after the builds starts AFTER; within a step, each progress task starts a part of it."""
    read = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    os.open(fifo, os.O_WRONLY)  # held open, so the reader never sees an end of file between writers
    os.set_blocking(read, True)
    pending = b""
    while True:
        pending += os.read(read, 1 << 16)
        *lines, pending = pending.split(b"\n")
        for line in lines:
            event = json.loads(line)
            if event["event"] == "message" and event["text"].startswith("building "):
                memory.boundary(event["text"].removeprefix("building ").rsplit(" (", 1)[0])
            elif event["event"] == "start":
                after = event["task"].startswith(("hash ", "publish to ")) and memory.step not in (START, AFTER)
                memory.boundary(AFTER if after else memory.step, event["task"])
            elif event["event"] == "end":
                memory.boundary(memory.step, "")


def _sampler(memory: StepMemory) -> None:
    while True:
        memory.sample()
        time.sleep(0.01)


def main() -> None:
    report, args = Path(sys.argv[1]), sys.argv[2:]
    fifo = str(Path(tempfile.mkdtemp(prefix="hubship-steps-")) / "events")
    os.mkfifo(fifo)
    os.environ["HUBSHIP_PROGRESS_EVENTS"] = fifo
    memory = StepMemory()
    threading.Thread(target=_follow, args=(fifo, memory), daemon=True).start()
    threading.Thread(target=_sampler, args=(memory,), daemon=True).start()

    def write_report() -> None:
        memory.close()
        report.write_text(json.dumps(memory.steps()))

    atexit.register(write_report)  # hubship ends with os._exit after running the exit handlers
    sys.argv = ["hubship", *args]
    runpy.run_module("hubship", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
