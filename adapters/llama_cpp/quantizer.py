"""GgufQuantizer through llama-cpp-python's `llama_model_quantize`, in-process, on every core other processes leave free.

llama.cpp reports each tensor it writes (`[  12/ 291] blk.0.ffn_up.weight ...`) to its log
(routed by log.py); those lines drive the progress bar, and its warning and error lines become the
one-line reason of a failure.
"""

from __future__ import annotations

import ctypes
import logging
import re
from pathlib import Path

import llama_cpp

from hubship.adapters.llama_cpp.log import listen
from hubship.adapters.llama_cpp.threads import free_threads
from hubship.domain.errors import PublishError
from hubship.ports.progress import Progress

_TENSOR = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]")
_SPECIAL = {"F32": "LLAMA_FTYPE_ALL_F32"}


def ftype(quant: str) -> int:
    """llama.cpp's file type number for a type name such as Q4_K_M."""
    value = getattr(llama_cpp, _SPECIAL.get(quant, f"LLAMA_FTYPE_MOSTLY_{quant}"), None)
    if not isinstance(value, int):
        raise PublishError(f"llama-cpp-python {llama_cpp.__version__} cannot quantize to {quant}")
    return value


class LlamaCppQuantizer:
    def quantize(self, source: Path, out_file: Path, quant: str, *, progress: Progress) -> None:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype(quant)
        params.nthread = free_threads()
        errors: list[str] = []
        with progress.task(f"quantize {quant}", total=100, unit="%") as task:
            shown = 0.0

            def on_line(level: int, text: str) -> None:
                nonlocal shown
                line = text.strip()
                match = _TENSOR.match(line)
                if match:
                    done = 100.0 * int(match.group(1)) / max(int(match.group(2)), 1)
                    task.advance(done - shown)
                    shown = done
                elif level >= logging.WARNING or "ERROR" in line or "failed" in line:
                    errors.append(line.strip("= \n"))

            with listen(on_line):
                code = llama_cpp.llama_model_quantize(str(source).encode(), str(out_file).encode(), ctypes.byref(params))
            if code == 0:
                task.advance(100 - shown)
        if code != 0:
            reason = next((e for e in reversed(errors) if e), "llama.cpp gave no reason")
            raise PublishError(f"llama.cpp could not quantize {source.name} to {quant}: {reason}")
