"""llama.cpp's own log, routed by adapters/llama_cpp/log.py: each line reaches Python's logging at its real level
and the listeners of `listen`, and nothing reaches the process's stderr. A real llama.cpp load of a GGUF that
holds a header only: llama.cpp reports at error level why it cannot load it."""

from __future__ import annotations

import logging

import llama_cpp

from hubship.adapters.llama_cpp.log import LOGGER, install_log_hook, listen
from tests.support.stand_in_gguf import GGUF_HEADER


def test_a_failed_load_is_logged_at_error_level_to_logging_and_listeners_not_to_stderr(tmp_path, caplog, capfd):
    path = tmp_path / "header-only.gguf"
    path.write_bytes(GGUF_HEADER)
    install_log_hook()
    install_log_hook()  # a second call changes nothing
    heard: list[tuple[int, str]] = []
    with caplog.at_level(logging.DEBUG, logger=LOGGER.name), listen(lambda level, line: heard.append((level, line))):
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), llama_cpp.llama_model_default_params())
    assert not model
    records = [r for r in caplog.records if r.name == LOGGER.name]
    errors = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    assert any("error loading model" in e for e in errors), [(r.levelname, r.getMessage()) for r in records]
    assert all("\n" not in r.getMessage() for r in records)  # whole lines, one record each
    assert [line for level, line in heard if level == logging.ERROR] == errors
    assert "error loading model" not in capfd.readouterr().err
