"""llama.cpp's own log, routed through Python's logging (logger `hubship.llama_cpp`) instead of stderr.

llama.cpp reports through one process-wide callback (`llama_log_set`). llama-cpp-python installs one on import
that prints to stderr every line its logger's level lets through, but with ggml's log levels of an older
llama.cpp: the pinned one numbers them NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (ggml/include/ggml.h),
so a warning passes for an error and reaches stderr past `-q`, e.g. `llama_context: n_ctx_seq (2048) >
n_ctx_train (512) -- possible training context overflow`. `install_log_hook()` (once per process; every
adapter that runs llama.cpp in-process calls it) replaces that callback with one that hands each complete line
to the logger at its real level, and to the listeners of `listen` (the quantizer's progress bar). The logger
prints nothing by itself (a NullHandler keeps Python's last-resort handler quiet); the CLI shows hubship's
loggers on stderr under HUBSHIP_DEBUG=1.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections.abc import Callable, Iterator

import llama_cpp

LOGGER = logging.getLogger("hubship.llama_cpp")
_CONT = 5  # GGML_LOG_LEVEL_CONT: the text continues the previous line
_LEVELS = {0: logging.INFO, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
Listener = Callable[[int, str], None]  # (logging level, one line of llama.cpp's log without its newline)

_lock = threading.Lock()
_listeners: list[Listener] = []
_installed: list[object] = []  # the ctypes callback, kept alive as long as llama.cpp may call it


class _Pending:
    """The start of a line llama.cpp has not finished yet, and its level."""

    text = ""
    level = logging.INFO


def _emit(level: int, line: str) -> None:
    for listener in list(_listeners):
        listener(level, line)
    if line.strip():
        LOGGER.log(level, line)


def _on_log(ggml_level: int, text: bytes | None, _user_data: ctypes.c_void_p) -> None:
    """llama.cpp's callback: buffer the text until a newline (llama.cpp writes many lines in pieces), then emit each
    complete line at the highest level of its pieces."""
    with _lock:
        level = _LEVELS.get(ggml_level, _Pending.level if ggml_level == _CONT else logging.INFO)
        _Pending.level = max(level, _Pending.level) if _Pending.text else level
        *lines, _Pending.text = (_Pending.text + (text or b"").decode("utf-8", "replace")).split("\n")
        level = _Pending.level
    for line in lines:
        _emit(level, line)


def install_log_hook() -> None:
    """Route llama.cpp's log through `LOGGER` from now on, in this process (a second call changes nothing)."""
    with _lock:
        if _installed:
            return
        callback = llama_cpp.llama_log_callback(_on_log)
        llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
        _installed.append(callback)
        if not any(isinstance(h, logging.NullHandler) for h in LOGGER.handlers):
            LOGGER.addHandler(logging.NullHandler())


@contextlib.contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Also hand every line of llama.cpp's log to `listener` (level, text) while the block runs."""
    install_log_hook()
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)
