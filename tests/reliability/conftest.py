"""Fixtures of the reliability suite: a pre-warmed zygote that forks each publish, and a local Hub server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.conftest import REPO
from tests.support.hub_fixtures import hub_environment, start_hub
from tests.support.hub_server import HubServer


@attrs.frozen
class Finished:
    code: int
    stdout: str
    stderr: str


class Zygote:
    """Runs jobs (see tests/reliability/zygote.py) in children forked from one warm process."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._logs = logs
        self._count = 0
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.zygote"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        assert "ready" in json.loads(self._proc.stdout.readline())

    def run(self, kind: str, cwd: Path, env: dict[str, str] | None = None, **job: Any) -> Finished:
        self._count += 1
        out, err = self._logs / f"{self._count}.out", self._logs / f"{self._count}.err"
        line = {"kind": kind, "cwd": str(cwd), "env": env or {}, "stdout": str(out), "stderr": str(err), **job}
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(line) + "\n")
        self._proc.stdin.flush()
        reply = json.loads(self._proc.stdout.readline())
        return Finished(reply["exit"], out.read_text(), err.read_text())

    def cli(self, *argv: str, cwd: Path, env: dict[str, str] | None = None) -> Finished:
        return self.run("cli", cwd, env, argv=list(argv))

    def stop(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=60)


@pytest.fixture(scope="package")  # one server and one warm zygote for the whole reliability suite (each takes ~20 s to start)
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    server = start_hub(tmp_path_factory.mktemp("hub-data"))
    yield server
    server.stop()


@pytest.fixture(scope="package")
def zygote(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zygote]:
    """A zygote whose children publish to `hub` (token, endpoint and a private HF_HOME in their environment)."""
    home = tmp_path_factory.mktemp("hf-home")
    env = {**os.environ, **hub_environment(hub, home), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    made = Zygote(env, tmp_path_factory.mktemp("zygote-logs"))
    yield made
    made.stop()
