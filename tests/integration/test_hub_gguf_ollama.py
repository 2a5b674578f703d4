"""A Hub GGUF repo carries hubship's Ollama template (`template`, `system`, `params`) for `ollama run hf.co/...`.

Real GGUF quantizations of the tiny checkpoint (llama.cpp), real Jinja and Go, published through the real
huggingface_hub client to the local Hub stand-in; the `ollama:` destination's Modelfile for the same
checkpoint (an Ollama-ready folder: no Ollama server answers) is what the files must equal.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest

from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE
from hubship.application.publish_request import PublishRequest
from hubship.domain.ollama_model import OllamaModel
from tests.support import hub_fixtures
from tests.support.hub_fixtures import changed_paths

hub, hub_env, container = hub_fixtures.hub, hub_fixtures.hub_env, hub_fixtures.hub_container  # the module's fixtures
pytestmark = pytest.mark.slow
QUANTS = ("gguf-q8_0", "gguf-q4_k_m")
NUMBERED = (Path(__file__).resolve().parents[1] / "data" / "chat_templates" / "numbered-turns.jinja").read_text()
DEFAULT_SYSTEM = "You are a helpful assistant."
WITH_SYSTEM = CHAT_TEMPLATE.replace(
    "{% for message in messages %}",
    "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n" + DEFAULT_SYSTEM + "<|im_end|>\\n' }}{% endif %}"
    "{% for message in messages %}",
    1,
)


def publish(container, checkpoint: Path, *destinations: str, formats=QUANTS, **options):
    request = PublishRequest(checkpoint=str(checkpoint), formats=tuple(formats), destinations=destinations, name="chat", options=options)
    return container.execute_plan().execute(request)


def ollama_destination_model(container, checkpoint: Path, folder: Path, monkeypatch) -> OllamaModel:
    """The model the `ollama:` destination makes of `checkpoint` (its Ollama-ready folder: no server answers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{s.getsockname()[1]}")
    monkeypatch.chdir(folder)
    publish(container, checkpoint, "ollama:chat", formats=())
    (made,) = folder.glob("published/**/ollama.json")
    return OllamaModel.from_json(made.read_text())


@pytest.fixture(scope="module")
def first(container, tiny_model):
    return publish(container, tiny_model[1], "hf:alice/chat")


def test_the_files_are_in_the_gguf_repos_single_commit_listed_in_every_manifest(first, hub):
    (commit,) = hub.commits("alice/chat-GGUF")
    assert {"template", "params", "chat.Q8_0.gguf", "chat.Q4_K_M.gguf"} <= changed_paths(hub, "alice/chat-GGUF", commit)
    assert "system" not in hub.files("alice/chat-GGUF"), "this chat template has no default system prompt"
    for fmt in QUANTS:
        listed = {e["path"] for e in json.loads(hub.file_bytes("alice/chat-GGUF", f"{fmt}.manifest.json"))["files"]}
        assert {"template", "params"} <= listed
    params = json.loads(hub.file_bytes("alice/chat-GGUF", "params"))
    assert params["stop"][:2] == ["<|im_end|>", "<|im_start|>"] and "</s>" in params["stop"]
    assert params["temperature"] == 0.7  # the checkpoint's generation_config.json


def test_the_card_names_the_real_files_and_the_ollama_files(first, hub):
    card = hub.file_bytes("alice/chat-GGUF", "README.md").decode()
    for quant in ("Q8_0", "Q4_K_M"):
        assert f"ollama run hf.co/alice/chat-GGUF:{quant}" in card and f"llama-server -hf alice/chat-GGUF:{quant}" in card
        assert f'filename="chat.{quant}.gguf"' in card
    assert "<name>" not in card
    assert card.count("## Quantizations in this repository") == 1, "one table for the repo, not one per quantization"
    table = card.split("## Quantizations in this repository", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith(("| Q8_0 |", "| Q4_K_M |"))]
    assert [r.split(" | ")[0] for r in rows] == ["| Q8_0", "| Q4_K_M"]  # largest first
    assert all(r.count("|") == 6 and "—" not in r and r.rstrip(" |").endswith("%") for r in rows), rows
    assert "Ollama files `template`, `params`" in card and "proven at token level" in card


def test_an_unchanged_republish_makes_no_commit(first, container, hub, tiny_model):
    again = publish(container, tiny_model[1], "hf:alice/chat")
    assert again.published == () and len(hub.commits("alice/chat-GGUF")) == 1


def test_a_changed_template_sends_only_what_changed_and_equals_the_ollama_destination(first, container, hub, tmp_path, monkeypatch):
    checkpoint = tmp_path / "with-system"
    shutil.copytree(Path(first.planned.checkpoint.root), checkpoint)
    (checkpoint / "chat_template.jinja").write_text(WITH_SYSTEM)
    publish(container, checkpoint, "hf:alice/chat")
    commits = hub.commits("alice/chat-GGUF")
    assert len(commits) == 2
    changed = changed_paths(hub, "alice/chat-GGUF", commits[-1])
    assert {"template", "system"} <= changed and "params" not in changed, "params did not change: it is not sent again"
    assert hub.file_bytes("alice/chat-GGUF", "system").decode() == DEFAULT_SYSTEM

    model = ollama_destination_model(container, checkpoint, tmp_path, monkeypatch)
    assert model.template is not None and hub.file_bytes("alice/chat-GGUF", "template").decode() == model.template
    assert hub.file_bytes("alice/chat-GGUF", "system").decode() == model.system
    assert json.loads(hub.file_bytes("alice/chat-GGUF", "params")) == dict(model.parameters)


def test_the_single_layout_puts_them_at_the_repo_root_where_the_hub_reads_them(first, container, hub, tiny_model):
    publish(container, tiny_model[1], "hf:alice/chat-one", formats=("gguf-q8_0",), repo_layout="single")
    files = hub.files("alice/chat-one")
    assert {"template", "params", "gguf-q8_0/template", "gguf-q8_0/params"} <= set(files)
    assert hub.file_bytes("alice/chat-one", "template") == hub.file_bytes("alice/chat-GGUF", "template", revision=first_head(hub))
    assert len(hub.commits("alice/chat-one")) == 1
    root = json.loads(hub.file_bytes("alice/chat-one", "manifest.json"))  # what `hubship verify hf:` checks at the root
    listed = {e["path"]: e["sha256"] for e in root["files"]}
    assert set(listed) == {"README.md", "template", "params"} and root["format"] == "repo-root"
    assert all(listed[p] == hashlib.sha256(hub.file_bytes("alice/chat-one", p)).hexdigest() for p in listed)
    assert set(root["built_from"]) == {"gguf-q8_0"}


def first_head(hub) -> str:
    """The GGUF repo's first hubship commit (the tiny checkpoint's own chat template)."""
    return hub.commits("alice/chat-GGUF")[0]["id"]


def test_a_refused_template_gets_no_ollama_files_and_a_card_that_says_why(container, hub, checkpoint_copy):
    (checkpoint_copy / "chat_template.jinja").write_text("{{ bos_token }}" + NUMBERED)  # BOS: the GGUF itself is right
    publish(container, checkpoint_copy, "hf:alice/numbered", formats=("gguf-q8_0",))
    files = set(hub.files("alice/numbered-GGUF"))
    assert "chat.Q8_0.gguf" in files and not {"template", "system", "params"} & files
    card = hub.file_bytes("alice/numbered-GGUF", "README.md").decode()
    assert "no Ollama `template` file: no faithful Ollama template could be derived from the chat template (" in card
    assert "ollama run hf.co/alice/numbered-GGUF:Q8_0" in card
