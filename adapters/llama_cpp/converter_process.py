"""The processes llama.cpp's converter scripts run in, one of them started ahead ("warm") when asked.

A converter run spends most of its time importing (torch, transformers, gguf and the converter's `conversion`
package: 7 of 10 s for a 100M model on 2 cores); the conversion itself is seconds. A warm process does those
imports as soon as a publish knows it will convert, while the merge and the probes run, then waits for its
command line on stdin. Given one, it runs the script as `python SCRIPT ARGS` would (`__main__`, the same argv,
output and exit code), or a `-c CODE ARGS` program. A warm process is used once; one never used is stopped when
the interpreter exits.
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

_BOOT = r"""
import json, runpy, sys
try:  # what every converter run imports first (a failing import fails again, as usual, when the script runs)
    import torch, gguf, conversion
    from transformers import AutoConfig, AutoTokenizer
    import transformers.utils.type_validators  # what reading a model's config imports (torch.distributed, 1.5 s)
except Exception:
    pass
line = sys.stdin.readline()
if not line.strip():
    sys.exit(0)
args = json.loads(line)
if args[0] == "-c":
    sys.argv = ["-c", *args[2:]]
    exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
else:
    sys.argv = list(args)
    runpy.run_path(args[0], run_name="__main__")
"""


class ConverterProcesses:
    """Starts converter processes in `home` with `env`: `warm_up()` starts one ahead, `start(args)` hands it the
    command line (or starts a fresh `python ARGS` when none is ready)."""

    def __init__(self) -> None:
        self._warm: tuple[subprocess.Popen[bytes], Path] | None = None
        atexit.register(self.close)

    def warm_up(self, home: Path, env: dict[str, str]) -> None:
        if self._ready(home) is None:
            self.close()
            self._warm = (self._popen([sys.executable, "-c", _BOOT], home, env, stdin=subprocess.PIPE), home)

    def start(self, args: Sequence[str], home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A process running `python ARGS` in `home`, its output (stdout and stderr) on its stdout pipe."""
        proc = self._ready(home)
        if proc is None:
            self.close()  # one started for another folder, or dead
            return self._popen([sys.executable, *args], home, env)
        self._warm = None
        assert proc.stdin is not None
        try:
            proc.stdin.write((json.dumps(list(args)) + "\n").encode())
            proc.stdin.close()
        except OSError:  # it died while waiting (killed, out of memory): a fresh one does the run
            proc.kill()
            return self._popen([sys.executable, *args], home, env)
        return proc

    def close(self) -> None:
        """Stop the warm process, if one waits unused."""
        if self._warm is not None:
            proc = self._warm[0]
            self._warm = None
            proc.kill()
            proc.wait()

    def _ready(self, home: Path) -> subprocess.Popen[bytes] | None:
        """The warm process, if it is alive and was started for this converter folder (with the environment of
        then: the converter's own variables are set alike every time)."""
        if self._warm is None:
            return None
        proc, warm_home = self._warm
        return proc if proc.poll() is None and warm_home == home else None

    @staticmethod
    def _popen(command: list[str], home: Path, env: dict[str, str], stdin: int | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, cwd=home, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
