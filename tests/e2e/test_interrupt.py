"""Ctrl-C in the middle of a publish, as a terminal sends it (SIGINT to the whole process group): exit 130,
one line saying nothing is half-published and how to continue, and indeed nothing half-written anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _started(events, timeout: float = 300) -> str:
    """Wait until a build step starts (a progress `start` event after hashing the inputs); return its name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if events.is_file():
            for line in events.read_text().splitlines():
                event = json.loads(line)
                if event["event"] == "start" and event["task"] != "hash inputs":
                    return event["task"]
        time.sleep(0.05)
    raise AssertionError("no build step started")


def test_ctrl_c_exits_130_with_one_line_and_leaves_nothing_half_written(tiny_model, tmp_path):
    events, out, workspace = tmp_path / "events.jsonl", tmp_path / "out", tmp_path / "ws"
    args = ["publish", str(tiny_model[1]), "-f", "merged-16bit", "--to", f"dir:{out}", "-w", str(workspace), "-q"]
    env = {**os.environ, "HUBSHIP_PROGRESS_EVENTS": str(events), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubship", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _started(events)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    assert stderr.splitlines() == ["interrupted: nothing half-published; re-run the same command to continue"] and stdout == ""
    assert not out.exists()
    assert not any((workspace / "tmp").iterdir()), "a staging folder was left behind"
    assert not (workspace / "artifacts").exists() or all((a / ".complete").is_file() for a in (workspace / "artifacts").iterdir())
