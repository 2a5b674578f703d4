"""llama.cpp's own log goes through Python's logging: `-q` keeps it off stderr, HUBSHIP_DEBUG=1 shows it.

A real publish of a real GGUF through the CLI: the base's context is cut to 64 positions, so every load of the
GGUF with a context of 256 (llama.cpp's smallest per sequence) makes llama.cpp warn `llama_context: n_ctx_seq
(256) > n_ctx_train (64)`, the line that reached a user's terminal under `-q`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
WARNING = "n_ctx_train (64)"


@pytest.fixture
def short_context_base(tiny_model, tmp_path) -> Path:
    base = tmp_path / "short-base"
    shutil.copytree(tiny_model[0], base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 64}))
    return base


def _publish(cli, tiny_model, base: Path, root: Path, **env: str):
    args = [str(tiny_model[1]), "--base", str(base), "-f", "gguf-q8_0", "-q", "-w", str(root / "ws"), "--to", f"dir:{root / 'out'}"]
    result = cli("publish", *args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_quiet_hides_llama_cpps_log_and_debug_shows_it_through_logging(cli, tiny_model, short_context_base, tmp_path):
    quiet = _publish(cli, tiny_model, short_context_base, tmp_path / "quiet")
    assert WARNING not in quiet.stderr and "llama_" not in quiet.stderr, quiet.stderr[-3000:]

    debug = _publish(cli, tiny_model, short_context_base, tmp_path / "debug", HUBSHIP_DEBUG="1")
    shown = [line for line in debug.stderr.splitlines() if WARNING in line]
    assert shown and all(line.startswith("hubship.llama_cpp: WARNING: llama_context: n_ctx_seq (") for line in shown), shown
