"""The token-level proof of the chat format in the publish path, with the real llama.cpp, transformers and Go:
a tiny model trained for a few steps to end its turn is published as a GGUF and an Ollama model, both
proven; templates that break the format stop the publish at plan time with the quality gate (exit 3)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from llama_cpp import Llama

from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE, HfDemoCheckpointFactory
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from tests.fakes.progress import FakeProgress
from tests.support.chat_training import ANSWER, train_to_end_turns

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (apt-get install golang-go)")]
CHATML = ("<|im_start|>", "<|im_end|>")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(base, checkpoint): the demo model with ChatML tokens, its LoRA trained to answer and end the turn."""
    base, checkpoint = HfDemoCheckpointFactory().create(tmp_path_factory.mktemp("trained"), dtype="float32", chat_tokens=CHATML)
    assert train_to_end_turns(base, checkpoint) < 0.2
    return base, checkpoint


def request(checkpoint: Path, *destinations: str, **options) -> PublishRequest:
    return PublishRequest(checkpoint=str(checkpoint), formats=("gguf-q8_0",), destinations=destinations, options=options)


def verification(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())["verification"]


def test_a_trained_model_ends_its_turn_and_its_published_chat_format_is_proven(trained, container, tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{s.getsockname()[1]}")  # nobody answers: the Ollama-ready folder
    monkeypatch.chdir(tmp_path)
    result = container.execute_plan().execute(request(trained[1], f"dir:{tmp_path / 'out'}", "ollama:trained", ollama_quant="q8_0"))
    gguf_folder, ollama_folder = (tmp_path / p for p in result.published)

    gguf = verification(gguf_folder)["metrics"]
    assert gguf["chat_token_check"] == "passed" and gguf["chat_token_conversations"] == 7 and gguf["chat_token_mismatches"] == 0
    assert gguf["chat_end_of_turn"] == "<|im_end|>" and gguf["chat_end_of_turn_not_eog"] == 0
    assert gguf["chat_completion_finish"] == "stop" and gguf["chat_completion_tokens"] < 10
    assert "chat format proven at token level on 7 conversations" in (gguf_folder / "README.md").read_text()

    ollama = verification(ollama_folder)["metrics"]
    assert ollama["chat_token_check"] == "passed" and ollama["chat_end_of_turn_not_stop"] == 0
    assert 'PARAMETER stop "<|im_end|>"' in (ollama_folder / "Modelfile").read_text()
    assert "the Modelfile's TEMPLATE as Ollama renders it" in (ollama_folder / "README.md").read_text()

    llm = Llama(model_path=str(next(gguf_folder.glob("*.gguf"))), n_ctx=256, verbose=False)  # the GGUF's own template
    try:
        answer = llm.create_chat_completion(messages=[{"role": "user", "content": "Hello! What is 2+2?"}], temperature=0, max_tokens=32)
    finally:
        llm.close()
    assert answer["choices"][0]["finish_reason"] == "stop" and answer["choices"][0]["message"]["content"].strip() == ANSWER


def test_a_template_without_the_bos_the_runtime_adds_stops_the_publish_at_plan_time(checkpoint_copy, container, tmp_path):
    """The demo tokenizer adds BOS (the GGUF says add_bos_token): a template that does not write it trained the
    model without one, and every runtime would feed one more token than training saw."""
    (checkpoint_copy / "chat_template.jinja").write_text(CHAT_TEMPLATE.removeprefix("{{ bos_token }}"))
    with pytest.raises(QualityGateFailed) as failed:
        container.plan_publish().execute(request(checkpoint_copy, f"dir:{tmp_path / 'out'}"))
    assert failed.value.exit_code == 3 and "\n" not in str(failed.value)
    assert "the runtime adds a BOS token the chat template does not write" in str(failed.value)
    assert not list((tmp_path / "workspace").glob("artifacts/*"))

    progress = FakeProgress()
    container.progress.override(progress)
    container.plan_publish().execute(request(checkpoint_copy, f"dir:{tmp_path / 'out'}", accept_quality_loss=True))
    assert any(m.startswith("warning: quality gate failed") and "accepted" in m for m in progress.messages)


def test_an_end_of_turn_token_that_does_not_end_generation_stops_the_publish(tmp_path, container):
    """A turn marker llama.cpp does not know as end-of-generation: a chat that would never stop by itself."""
    turn = ("<|turn|>", "<|turn_end|>")
    _, checkpoint = HfDemoCheckpointFactory().create(tmp_path / "m", dtype="float32", chat_tokens=turn)
    template = CHAT_TEMPLATE.replace("<|im_start|>", "<|turn|>").replace("<|im_end|>", "<|turn_end|>")
    (checkpoint / "chat_template.jinja").write_text(template)
    with pytest.raises(QualityGateFailed, match=r"the end-of-turn token <\|turn_end\|> does not end generation in llama.cpp"):
        container.plan_publish().execute(request(checkpoint, f"dir:{tmp_path / 'out'}"))
