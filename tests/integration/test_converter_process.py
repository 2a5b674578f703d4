"""A converter process started ahead runs a script exactly as `python SCRIPT ARGS` would: its argv, `__main__`,
output and exit code; it is used once, only for the folder it was started in, and stopped when not used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubship.adapters.llama_cpp.converter_process import ConverterProcesses

SCRIPT = """
import os, sys
print("pid", os.getpid(), "name", __name__, "argv", sys.argv[1:], "cwd", os.getcwd(), flush=True)
if sys.argv[1:] == ["fail"]:
    raise ValueError("broken input")
sys.exit(int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0)
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "script.py").write_text(SCRIPT)
    return tmp_path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _finish(proc) -> tuple[int, str]:
    out = proc.stdout.read()  # as the converter reads it (communicate() would flush the stdin it was given, closed)
    return proc.wait(timeout=120), out.decode()


def test_a_warm_process_runs_the_script_as_python_would(home):
    processes = ConverterProcesses()
    processes.warm_up(home, _env())
    warm = processes._warm[0]
    proc = processes.start(["script.py", "a", "b c"], home, _env())
    code, out = _finish(proc)
    assert proc is warm and code == 0
    assert f"pid {warm.pid} name __main__ argv ['a', 'b c'] cwd {home}" in out
    assert processes._warm is None  # used once


def test_exit_codes_and_tracebacks_come_back_unchanged(home):
    processes = ConverterProcesses()
    processes.warm_up(home, _env())
    assert _finish(processes.start(["script.py", "3"], home, _env()))[0] == 3
    processes.warm_up(home, _env())
    code, out = _finish(processes.start(["script.py", "fail"], home, _env()))
    assert code == 1 and "ValueError: broken input" in out and "Traceback" in out


def test_a_program_given_with_dash_c_gets_its_arguments(home):
    processes = ConverterProcesses()
    processes.warm_up(home, _env())
    code, out = _finish(processes.start(["-c", "import sys; print('args', sys.argv)", "x", "y"], home, _env()))
    assert code == 0 and "args ['-c', 'x', 'y']" in out


def test_without_a_warm_process_or_for_another_folder_a_fresh_one_runs(home, tmp_path_factory):
    processes = ConverterProcesses()
    code, out = _finish(processes.start(["script.py"], home, _env()))
    assert code == 0 and "name __main__" in out
    other = tmp_path_factory.mktemp("other")
    (other / "script.py").write_text(SCRIPT)
    processes.warm_up(home, _env())
    warm = processes._warm[0]
    code, out = _finish(processes.start(["script.py"], other, _env()))
    assert code == 0 and f"cwd {other}" in out and f"pid {warm.pid} " not in out
    assert warm.wait(timeout=30) is not None  # the one warmed for the other folder was stopped


def test_close_stops_an_unused_warm_process(home):
    processes = ConverterProcesses()
    processes.warm_up(home, _env())
    warm = processes._warm[0]
    processes.warm_up(home, _env())  # already warm: the same process
    assert processes._warm[0] is warm
    processes.close()
    assert warm.wait(timeout=30) is not None and processes._warm is None
    processes.close()  # idempotent


def test_a_warm_process_given_no_command_exits_quietly(home):
    processes = ConverterProcesses()
    processes.warm_up(home, _env())
    warm = processes._warm[0]
    warm.stdin.close()
    assert warm.wait(timeout=120) == 0


def test_a_warm_process_that_died_is_replaced_by_a_fresh_one(home):
    processes = ConverterProcesses()
    processes.warm_up(home, _env())
    warm = processes._warm[0]
    warm.kill()
    warm.wait(timeout=30)
    code, out = _finish(processes.start(["script.py", "z"], home, _env()))
    assert code == 0 and "argv ['z']" in out and f"pid {warm.pid} " not in out
