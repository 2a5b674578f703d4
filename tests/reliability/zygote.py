"""A pre-warmed process that forks one fresh publish per request, so a killed run starts in milliseconds.

A `python -m hubship` run spends ~10 s importing torch and transformers before its first step; the
reliability suite runs dozens of publishes. The zygote imports them once, then for each JSON job on
stdin forks a child that runs it in a fresh process state and answers one JSON line with the child's
exit code (-9 when it died by SIGKILL). Jobs:

- `{"kind": "cli", "argv": [...]}`: `hubship.entrypoints.cli.main(argv)`, exactly what the console script runs;
- `{"kind": "kill", "publish": {...}, "at": {...}}`: the publish those CLI flags make, through a container
  whose progress port is wrapped by `KillAt` (the swap tests make through the container): the child
  SIGKILLs itself the moment the chosen progress event (a step's start, its n-th advance, its end, or a
  message) is written, so the kill lands at that exact point inside the step, every run.

Every job names its `cwd`, extra `env`, and `stdout`/`stderr` files. The zygote's environment is fixed at
start (huggingface_hub reads some variables once, at import).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from typing import Any


class _KillTask:
    def __init__(self, inner: Any, owner: KillAt, description: str) -> None:
        self._inner, self._owner, self._description = inner, owner, description

    def advance(self, amount: float = 1) -> None:
        self._inner.advance(amount)
        self._owner.seen("advance", self._description)


class KillAt:
    """A Progress that passes everything to `inner` (which writes the event line first), then SIGKILLs
    this process at the `nth` event of kind `event` whose task description or message matches `pattern`."""

    def __init__(self, inner: Any, event: str, pattern: str, nth: int = 1) -> None:
        self._inner, self._event, self._pattern, self._left = inner, event, re.compile(pattern), nth

    def seen(self, event: str, text: str) -> None:
        if event == self._event and self._pattern.search(text):
            self._left -= 1
            if self._left == 0:
                os.kill(os.getpid(), signal.SIGKILL)

    def message(self, text: str) -> None:
        self._inner.message(text)
        self.seen("message", text)

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "") -> Iterator[_KillTask]:
        with self._inner.task(description, total, unit) as task:
            self.seen("start", description)
            yield _KillTask(task, self, description)
        self.seen("end", description)


def _run_killed(publish: dict[str, Any], at: dict[str, Any]) -> int:
    """The publish `hubship publish CKPT -f F -n NAME --to D... -w WS -q [options]` makes, through a container whose
    progress port is wrapped by KillAt (the one swap; the request is the one the CLI builds for those flags)."""
    from dependency_injector import providers

    from hubship.application.publish_request import PublishRequest
    from hubship.entrypoints.container import create_container

    container = create_container({"workspace": publish["workspace"], "quiet": True, "backend": "auto"})
    container.progress.override(providers.Object(KillAt(container.progress(), **at)))
    request = PublishRequest(
        checkpoint=publish["checkpoint"],
        name=publish["name"],
        formats=(publish["formats"],),
        destinations=tuple(publish["to"]),
        options=publish.get("options", {}),  # the request options those flags set (e.g. dtype)
    )
    container.execute_plan().execute(request)
    return 0


def _run_cli(argv: list[str]) -> int:
    from hubship.entrypoints import cli

    try:
        cli.main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _child(job: dict[str, Any]) -> int:
    os.chdir(job["cwd"])
    os.environ.update(job.get("env", {}))
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(job[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    if job["kind"] == "kill":
        return _run_killed(job["publish"], job["at"])
    return _run_cli(job["argv"])


def main() -> None:
    import importlib
    import pkgutil

    import hubship.adapters
    from hubship.entrypoints import cli  # noqa: F401

    for module in pkgutil.walk_packages(hubship.adapters.__path__, "hubship.adapters."):  # torch, transformers, peft...
        importlib.import_module(module.name)  # imported once here, not in every child (every adapter package's modules)

    replies = os.fdopen(os.dup(1), "w")
    print(json.dumps({"ready": os.getpid()}), file=replies, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(job)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "exit": os.waitstatus_to_exitcode(status)}), file=replies, flush=True)


if __name__ == "__main__":
    main()
