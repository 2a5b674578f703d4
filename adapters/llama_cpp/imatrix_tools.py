"""ImatrixTools through llama.cpp's own `llama-imatrix` and `llama-quantize` binaries, run as subprocesses.

The binaries are built at set-up from the pinned llama-cpp-python's llama.cpp (tools_build.py) and
checked against the installed library on every use. Their output drives the progress bars (the
imatrix's per-chunk perplexity `[3]12.34,`, the quantizer's per-tensor `[ 12/ 291]`), and the last
error line becomes the one-line reason of a failure. Each tool runs in the folder of the file it
must record (the calibration text, the imatrix), given by name, so no local path lands in a
published file and the same inputs give the same bytes.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from hubship.adapters.llama_cpp.install import library_version
from hubship.adapters.llama_cpp.tools_build import built_version, installed_tools, tool_path, tools_home
from hubship.domain.errors import PublishError, UserInputError
from hubship.ports.progress import Progress

_CHUNKS = re.compile(rb"computing over (\d+) chunks")
_CHUNK_DONE = re.compile(rb"\[(\d+)\](\d+(?:\.\d+)?),")
_TENSOR = re.compile(rb"^\[\s*(\d+)/\s*(\d+)\]")
_FINAL = re.compile(rb"Final estimate: PPL = (\d+(?:\.\d+)?)")
_TOO_FEW = re.compile(r"tokenizes to only (\d+) tokens")
_LOG_PREFIX = re.compile(r"^\s*\d+\.\d+\.\d+\.\d+ [A-Z] ")
_ERROR = re.compile(r"error|failed|invalid|not a valid|cannot|unable", re.IGNORECASE)


def _no_model(imatrix: Path) -> list[str]:
    """llama-imatrix's argument parser wants `-m` even where no model is loaded (reading or re-saving an imatrix)."""
    return ["-m", imatrix.name]


def _reason(lines: Sequence[str]) -> str:
    """The last error line of a tool's output, without llama.cpp's log prefix (`0.00.048.204 E `)."""
    found = [line for line in lines if _ERROR.search(line)]
    last = (found or [line for line in lines if line.strip()] or ["no output"])[-1]
    return _LOG_PREFIX.sub("", last).strip(" .:\n")


def _stream(command: list[str], cwd: Path, on_chunk: Callable[[bytes], None]) -> tuple[int, list[str]]:
    """Run `command` in `cwd`; feed every piece of its output (stdout and stderr) to `on_chunk`; (exit code, last lines)."""
    tail: collections.deque[str] = collections.deque(maxlen=200)
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    pending = b""
    while chunk := proc.stdout.read1(65536):  # type: ignore[attr-defined]
        on_chunk(chunk)
        pieces = re.split(rb"[\r\n]", pending + chunk)
        pending = pieces.pop()
        tail.extend(p.decode("utf-8", "replace") for p in pieces if p.strip())
    if pending.strip():
        tail.append(pending.decode("utf-8", "replace"))
    return proc.wait(), list(tail)


def tool_versions() -> dict[str, str]:
    """{"llama_cpp_tools": version} when the tools are installed and current, else {} (for the system probe)."""
    found = LlamaCppImatrixTools().version()
    return {"llama_cpp_tools": found} if found else {}


class LlamaCppImatrixTools:
    """Runs the tools in `tools_build.tools_home()/bin` (or $HUBSHIP_LLAMA_CPP_TOOLS/bin)."""

    def version(self) -> str | None:
        found = built_version(tools_home())
        try:
            return found if found == library_version() else None
        except UserInputError:  # llama-cpp-python itself is missing
            return None

    def check(self) -> None:
        installed_tools(library_version())

    def _tool(self, name: str) -> str:
        return str(tool_path(installed_tools(library_version()), name))

    def check_imatrix(self, path: Path) -> None:
        if not path.is_file():
            raise UserInputError(f"imatrix file {path} does not exist; pass --imatrix with an imatrix file, or auto or off")
        command = [self._tool("llama-imatrix"), *_no_model(path), "--in-file", path.name, "--show-statistics"]
        code, lines = _stream(command, path.parent, lambda _: None)
        if code != 0:
            raise UserInputError(
                f"{path} is not an imatrix file llama.cpp reads ({_reason(lines)}); pass --imatrix with a file made by llama-imatrix"
            )

    def convert_legacy(self, imatrix: Path, out_file: Path, *, progress: Progress) -> None:
        with progress.task(f"convert {imatrix.name} to GGUF", total=1, unit="files") as task:
            command = [self._tool("llama-imatrix"), *_no_model(imatrix), "--in-file", imatrix.name, "-o", str(out_file.absolute())]
            code, lines = _stream(command, imatrix.parent, lambda _: None)
            task.advance()
        if code != 0:
            raise UserInputError(f"{imatrix} is not an imatrix file llama.cpp reads ({_reason(lines)}); pass --imatrix with another")

    def compute(self, model: Path, calibration: Path, out_file: Path, *, progress: Progress) -> dict[str, float]:
        command = [self._tool("llama-imatrix"), "-m", str(model.absolute()), "-f", calibration.name, "-o", str(out_file.absolute())]
        command += ["--ctx-size", "512", "--batch-size", "512", "--parse-special", "--threads", str(os.cpu_count() or 1)]
        figures: dict[str, float] = {}
        with contextlib.ExitStack() as stack:  # the bar starts once llama-imatrix says how many chunks it will run
            text, task, seen = b"", None, 0

            def on_chunk(chunk: bytes) -> None:
                nonlocal text, task, seen
                text = (text + chunk)[-4096:]
                if task is None and (total := _CHUNKS.search(text)):
                    figures["chunks"] = float(total.group(1))
                    task = stack.enter_context(progress.task(f"imatrix of {model.name}", total=figures["chunks"], unit="chunks"))
                for done in _CHUNK_DONE.finditer(text):
                    if task is not None and int(done.group(1)) > seen:
                        task.advance(int(done.group(1)) - seen)
                        seen = int(done.group(1))
                    figures["perplexity"] = float(done.group(2))
                if final := _FINAL.search(text):
                    figures["perplexity"] = float(final.group(1))

            code, lines = _stream(command, calibration.parent, on_chunk)
        if code != 0:
            too_few = next((m for m in map(_TOO_FEW.search, lines) if m), None)
            if too_few:
                raise UserInputError(
                    f"the calibration text tokenizes to only {too_few.group(1)} tokens; an imatrix needs at least 1024:"
                    " pass --calibration with a longer file"
                )
            raise PublishError(f"llama-imatrix failed on {model.name}: {_reason(lines)}")
        return figures

    def quantize(self, source: Path, out_file: Path, quant: str, imatrix: Path, *, progress: Progress) -> None:
        command = [self._tool("llama-quantize"), "--imatrix", imatrix.name, str(source.absolute()), str(out_file.absolute()), quant]
        command.append(str(os.cpu_count() or 1))
        with progress.task(f"quantize {quant} with imatrix", total=100, unit="%") as task:
            shown = 0.0

            def on_chunk(chunk: bytes) -> None:
                nonlocal shown
                for line in re.split(rb"[\r\n]", chunk):
                    match = _TENSOR.match(line)
                    if match:
                        done = 100.0 * int(match.group(1)) / max(int(match.group(2)), 1)
                        task.advance(done - shown)
                        shown = done

            code, lines = _stream(command, imatrix.parent, on_chunk)
            if code == 0:
                task.advance(100 - shown)
        if code != 0:
            raise PublishError(f"llama-quantize could not quantize {source.name} to {quant} with {imatrix.name}: {_reason(lines)}")
