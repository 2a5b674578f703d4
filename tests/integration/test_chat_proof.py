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

from hubship.adapters.llama_cpp.chat_runtime import LlamaCppChatRuntime
from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE, HfDemoCheckpointFactory
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from tests.fakes.progress import FakeProgress
from tests.support.chat_training import ANSWER, train_to_end_turns
from tests.support.tokenizers import adds_bos

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
    assert gguf["chat_token_runtimes"] == "llama-server llama-cpp-python llama-server (run)"  # the real server, on the file
    assert not verification(gguf_folder).get("warnings")
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


def test_a_bos_the_template_does_not_write_is_a_stated_choice_written_into_the_gguf(checkpoint_copy, container, tmp_path):
    """A Zephyr-style template on a tokenizer that adds BOS leaves open what training fed. The default (--bos
    tokenizer) feeds BOS as tokenizer(text) does: the GGUF says add_bos_token, llama-server feeds it, and
    llama-cpp-python's chat API, which never adds one, is a card warning. --bos template makes the GGUF add none."""
    adds_bos(checkpoint_copy)
    (checkpoint_copy / "chat_template.jinja").write_text(CHAT_TEMPLATE.removeprefix("{{ bos_token }}"))
    progress = FakeProgress()
    container.progress.override(progress)
    tokenizer = container.execute_plan().execute(request(checkpoint_copy, f"dir:{tmp_path / 'tokenizer'}"))
    folder = tmp_path / tokenizer.published[0]
    gguf = next(folder.glob("*.gguf"))
    assert LlamaCppChatRuntime().vocab(gguf).add_bos  # what llama.cpp reads of the GGUF hubship wrote
    found = verification(folder)
    assert found["metrics"]["chat_token_check"] == "passed"
    assert found["metrics"]["chat_token_runtimes"].startswith("llama-server llama-cpp-python")
    assert [w for w in found["warnings"] if "llama-cpp-python's chat API feeds other ids than training" in w]
    card = (folder / "README.md").read_text()
    assert "BOS (--bos tokenizer): the runtimes feed a BOS token (<s>) before the template's text" in card
    assert "--bos template would feed no BOS token" in card

    template = container.execute_plan().execute(request(checkpoint_copy, f"dir:{tmp_path / 'template'}", bos="template"))
    folder = tmp_path / template.published[0]
    assert not LlamaCppChatRuntime().vocab(next(folder.glob("*.gguf"))).add_bos
    found = verification(folder)
    assert found["metrics"]["chat_token_check"] == "passed" and not [w for w in found.get("warnings", []) if "chat format" in w]
    assert "BOS (--bos template): the runtimes feed no BOS token (the template writes none)" in (folder / "README.md").read_text()


def test_the_chat_completion_fits_a_prompt_longer_than_the_old_fixed_context(checkpoint_copy, container, tmp_path):
    """Templates with long default system prompts (Mistral Small 3.2, Devstral, Command R7B) rendered past a fixed
    2048-token context; the completion's context is now sized from the rendered prompt."""
    system = " ".join(f"Rule {i}: answer briefly and never invent facts." for i in range(220))
    template = CHAT_TEMPLATE.replace(
        "{% for message in messages %}", "{{ '<|im_start|>system\\n" + system + "<|im_end|>\\n' }}{% for message in messages %}"
    )
    (checkpoint_copy / "chat_template.jinja").write_text(template)
    result = container.execute_plan().execute(request(checkpoint_copy, f"dir:{tmp_path / 'out'}"))
    metrics = verification(tmp_path / result.published[0])["metrics"]
    assert metrics["chat_token_check"] == "passed" and metrics["chat_completion_tokens"] >= 1
    assert (
        Llama(model_path=str(next((tmp_path / result.published[0]).glob("*.gguf"))), vocab_only=True, verbose=False)
        .tokenize(system.encode(), add_bos=False)
        .__len__()
        > 2048
    )


def test_an_end_of_turn_token_that_does_not_end_generation_stops_the_publish(tmp_path, container):
    """A turn marker llama.cpp does not know as end-of-generation: a chat that would never stop by itself."""
    turn = ("<|turn|>", "<|turn_end|>")
    _, checkpoint = HfDemoCheckpointFactory().create(tmp_path / "m", dtype="float32", chat_tokens=turn)
    template = CHAT_TEMPLATE.replace("<|im_start|>", "<|turn|>").replace("<|im_end|>", "<|turn_end|>")
    (checkpoint / "chat_template.jinja").write_text(template)
    with pytest.raises(QualityGateFailed, match=r"the end-of-turn token <\|turn_end\|> does not end generation in llama.cpp"):
        container.plan_publish().execute(request(checkpoint, f"dir:{tmp_path / 'out'}"))
