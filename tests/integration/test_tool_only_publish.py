"""Checkpoints whose chat template fails on a conversation alone (Hermes 2 Pro's, which needs tools; FireFunction v2's,
which reads `functions` and `datetime`) publish to Ollama with the real llama.cpp, transformers and Go: the TEMPLATE
renders a request without tools as the chat template does with what it needs (chat_inputs), proven byte for byte
and at token level."""

from __future__ import annotations

import json
import shutil
import socket

import pytest

from hubship.application.chat_inputs import EMPTY, FUNCTIONS, NOTES
from hubship.application.publish_request import PublishRequest
from tests.support.template_collection import templates_dir

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (apt-get install golang-go)")]


@pytest.mark.parametrize(
    ("name", "inputs", "written"),
    [
        ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", EMPTY, "<tools>  </tools>"),
        ("fireworks-ai-llama-3-firefunction-v2", FUNCTIONS, "Available functions as JSON spec:"),
    ],
)
def test_a_tool_only_template_publishes_to_ollama_proven(name, inputs, written, checkpoint_copy, container, tmp_path, monkeypatch):
    template = (templates_dir() / f"{name}.jinja").read_text(encoding="utf-8")
    (checkpoint_copy / "chat_template.jinja").write_text(template)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{s.getsockname()[1]}")  # nobody answers: the Ollama-ready folder
    monkeypatch.chdir(tmp_path)
    request = PublishRequest(
        checkpoint=str(checkpoint_copy),
        formats=("gguf-q8_0",),
        destinations=("ollama:hermes-tools",),
        options={"ollama_quant": "q8_0"},
    )
    result = container.execute_plan().execute(request)
    folder = tmp_path / result.published[0]
    metrics = json.loads((folder / "manifest.json").read_text())["verification"]["metrics"]
    assert metrics["chat_token_check"] == "passed", metrics
    modelfile = (folder / "Modelfile").read_text()
    assert written in modelfile and "{{- if .Tools }}" in modelfile
    assert NOTES[inputs].split(";")[0].split(":")[0] in (folder / "README.md").read_text()
