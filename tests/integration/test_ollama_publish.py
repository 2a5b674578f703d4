"""Publishing to Ollama through the container: the real tiny checkpoint, Jinja, Go, the real `ollama`
client, and the stand-in server (tests/support/ollama_server/) on a thread. The GGUF is a stand-in
format (a valid GGUF header) so these tests need no merge; test_ollama_cli.py runs the real one.
"""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import httpx
import ollama
import pytest
from dependency_injector import providers

from hubship.adapters.local.dir_registry import LocalDirRegistry
from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.adapters.ollama.registry import OllamaRegistry, server_url
from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE, HfDemoCheckpointFactory
from hubship.application.format_registry import FormatRegistry
from hubship.application.formats.lora import LoraFormat
from hubship.application.formats.ollama import OllamaFormat
from hubship.application.publish_request import PublishRequest
from hubship.domain.destination import parse_destination
from hubship.domain.errors import PublishError, QualityGateFailed, UserInputError
from hubship.domain.manifest import FileEntry, Manifest
from hubship.domain.ollama_model import OllamaModel
from hubship.domain.publication import Publication
from tests.fakes.progress import FakeProgress
from tests.support.ollama_server import StandInServer
from tests.support.stand_in_gguf import GGUF_HEADER, StandInGgufFormat
from tests.support.tokenizers import adds_bos

NUMBERED = (Path(__file__).resolve().parents[1] / "data" / "chat_templates" / "numbered-turns.jinja").read_text()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def go_checker(tmp_path_factory: pytest.TempPathFactory) -> GoTemplateChecker:
    return GoTemplateChecker(tmp_path_factory.mktemp("go-cache"))


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    made = StandInServer(tmp_path / "ollama-data")
    monkeypatch.setenv("OLLAMA_HOST", made.url)
    yield made
    made.stop()


@pytest.fixture
def env(container, go_checker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The container with a stand-in GGUF, a shared Go cache and recorded progress; cwd is private (./published)."""
    gguf = StandInGgufFormat()
    progress = FakeProgress()
    container.formats.override(providers.Object(FormatRegistry([LoraFormat(), gguf, OllamaFormat("Q4_K_M")])))
    container.go_templates.override(providers.Object(go_checker))
    container.progress.override(providers.Object(progress))
    monkeypatch.chdir(tmp_path)
    return SimpleNamespace(container=container, gguf=gguf, progress=progress)


def publish(env, checkpoint: Path, *destinations: str, formats: tuple[str, ...] = (), **options):
    request = PublishRequest(checkpoint=str(checkpoint), formats=formats, destinations=destinations, options=options)
    return env.container.execute_plan().execute(request)


def test_publish_creates_the_model_and_a_second_publish_uploads_nothing(env, server, tiny_model):
    result = publish(env, tiny_model[1], "ollama:tiny-chat")
    assert result.published == ("tiny-chat:latest",)
    assert {n.format for n in result.planned.plan.nodes} == {"gguf-q4_k_m", "ollama-q4_k_m"}
    assert [t.format for t in result.planned.targets] == ["ollama-q4_k_m"]

    record = server.state.model("tiny-chat")
    assert record["template"].startswith("{{- /* Derived by hubship")
    assert record["parameters"]["stop"][:2] == ["<|im_end|>", "<|im_start|>"] and "</s>" in record["parameters"]["stop"]
    assert record["parameters"]["temperature"] == 0.7  # from the checkpoint's generation_config.json
    assert record["license"] == "apache-2.0"
    shown = ollama.Client(host=server.url).show("tiny-chat")
    assert shown.template == record["template"] and '"<|im_end|>"' in shown.parameters

    artifact = Path(next(a.path for a in result.artifacts if a.format == "ollama-q4_k_m"))
    modelfile = (artifact / "Modelfile").read_text()
    assert modelfile.startswith("FROM ./model.Q4_K_M.gguf\n") and 'PARAMETER stop "<|im_end|>"' in modelfile
    metrics = json.loads((artifact / ".verification.json").read_text())["metrics"]
    assert metrics["template_check"] == "passed" and metrics["ollama_capabilities"] == "completion"  # its template has no tools
    assert len(server.state.uploads) == 1

    again = publish(env, tiny_model[1], "ollama:tiny-chat")
    assert again.published == ("tiny-chat:latest",) and all(a.reused for a in again.artifacts)
    assert len(server.state.uploads) == 1, "a blob already on the server was uploaded again"
    assert ("HEAD", f"/api/blobs/sha256:{hashlib.sha256(GGUF_HEADER).hexdigest()}", 200) in server.state.requests
    assert [m["name"] for m in server.state.models()] == ["tiny-chat:latest"]


def test_a_gguf_ollama_renders_with_its_own_renderer_says_so_at_create_and_in_its_record(env, server, tiny_model):
    gemma = StandInGgufFormat(architecture="gemma4")
    env.container.formats.override(providers.Object(FormatRegistry([LoraFormat(), gemma, OllamaFormat("Q4_K_M")])))
    result = publish(env, tiny_model[1], "ollama:gemma-like")
    assert result.published == ("gemma-like:latest",)
    assert (server.state.model("gemma-like")["renderer"], server.state.model("gemma-like")["parser"]) == ("gemma4", "gemma4")
    created = next(m for m in env.progress.messages if m.startswith("created Ollama model gemma-like:latest"))
    assert "rendered by Ollama's built-in renderer gemma4, not by the proven TEMPLATE; template check: passed" in created
    artifact = Path(next(a.path for a in result.artifacts if a.format == "ollama-q4_k_m"))
    record = json.loads((artifact / ".verification.json").read_text())
    assert record["metrics"]["ollama_runtime"] == "built-in renderer gemma4"
    assert any(w.startswith("`ollama create` (Ollama 0.20.0 or later) gives a GGUF of architecture gemma4") for w in record["warnings"])


def test_ollama_gets_its_gguf_and_other_destinations_the_requested_formats(env, server, tiny_model, tmp_path):
    request = PublishRequest(
        checkpoint=str(tiny_model[1]),
        formats=("lora",),
        destinations=(f"dir:{tmp_path / 'out'}", "ollama:tiny-chat:v1"),
        options={"ollama_quant": "Q4_K_M"},
    )
    planned = env.container.plan_publish().execute(request)
    assert {(t.destination.split(":")[0], t.format) for t in planned.targets} == {("dir", "lora"), ("ollama", "ollama-q4_k_m")}
    assert next(t.location for t in planned.targets if t.format == "ollama-q4_k_m") == "tiny-chat:v1"
    with pytest.raises(UserInputError, match="unknown --ollama-quant 'q9'"):
        env.container.plan_publish().execute(
            PublishRequest(checkpoint=str(tiny_model[1]), formats=(), destinations=("ollama:x",), options={"ollama_quant": "q9"})
        )


def test_untranslatable_template_is_one_line_and_nothing_is_created(env, server, checkpoint_copy):
    (checkpoint_copy / "chat_template.jinja").write_text(NUMBERED)
    with pytest.raises(UserInputError) as refused:
        publish(env, checkpoint_copy, "ollama:numbered")
    assert "\n" not in str(refused.value) and "cannot derive a faithful Ollama template" in str(refused.value)
    assert env.gguf.builds == 0, "the template must be refused at plan time, before any build"
    assert server.state.models() == [] and server.state.uploads == []


def test_a_chat_format_wrong_at_token_level_fails_the_quality_gate_at_plan_time(env, server, tmp_path):
    """A turn marker llama.cpp does not know as end-of-generation: Ollama's chat would never stop by itself."""
    turn = ("<|turn|>", "<|turn_end|>")
    _, checkpoint = HfDemoCheckpointFactory().create(tmp_path / "m", dtype="float32", chat_tokens=turn)
    (checkpoint / "chat_template.jinja").write_text(CHAT_TEMPLATE.replace("<|im_start|>", turn[0]).replace("<|im_end|>", turn[1]))
    with pytest.raises(QualityGateFailed, match="the Ollama model is wrong at token level") as failed:
        publish(env, checkpoint, "ollama:no-eog")
    assert "<|turn_end|> does not end generation in llama.cpp" in str(failed.value) and "\n" not in str(failed.value)
    assert env.gguf.builds == 0 and server.state.models() == []


@pytest.mark.parametrize("bos", ["tokenizer", "template"])
def test_a_bos_the_template_does_not_write_reaches_ollama_as_chosen(env, server, checkpoint_copy, bos):
    """A Zephyr-style template on a tokenizer that adds BOS: either choice publishes, proven for Ollama's own feeding
    (its TEMPLATE writes no BOS; the GGUF's add_bos_token says whether Ollama adds one)."""
    adds_bos(checkpoint_copy)
    (checkpoint_copy / "chat_template.jinja").write_text(CHAT_TEMPLATE.removeprefix("{{ bos_token }}"))
    assert publish(env, checkpoint_copy, "ollama:no-bos", bos=bos).published == ("no-bos:latest",)
    chat = {"model": "no-bos", "messages": [{"role": "user", "content": "Hi"}], "stream": False}
    answer = httpx.post(f"{server.url}/api/chat", json=chat).json()  # the stand-in says what Ollama would feed
    assert answer["standin"]["prompt"].startswith("<|im_start|>user")  # the TEMPLATE never writes the BOS itself


def test_generic_template_is_published_only_when_allowed_and_the_card_warns(env, checkpoint_copy, monkeypatch, tmp_path):
    (checkpoint_copy / "chat_template.jinja").write_text(NUMBERED)
    monkeypatch.setenv("OLLAMA_HOST", closed_port_url())  # the card is readable in the Ollama-ready folder
    result = publish(env, checkpoint_copy, "ollama:numbered", allow_generic_template=True)
    folder = tmp_path / result.published[0]
    card = (folder / "README.md").read_text()
    assert "## Warnings" in card and "could not be derived" in card
    assert "TEMPLATE" not in (folder / "Modelfile").read_text()
    assert json.loads((folder / "manifest.json").read_text())["verification"]["metrics"]["ollama_template"] == "generic"


def test_invalid_model_name_is_one_line_and_nothing_is_created(env, server, tiny_model):
    with pytest.raises(UserInputError, match="invalid Ollama model name") as refused:
        publish(env, tiny_model[1], "ollama:Not A Name!")
    assert "\n" not in str(refused.value)
    assert env.gguf.builds == 0 and server.state.models() == []


def test_server_error_is_one_line_and_nothing_is_created(env, tiny_model, tmp_path, monkeypatch):
    failing = StandInServer(tmp_path / "failing", fail={"/api/create": 500})
    monkeypatch.setenv("OLLAMA_HOST", failing.url)
    try:
        with pytest.raises(PublishError, match=r"refused to create tiny-chat:latest: .*HTTP 500") as failed:
            publish(env, tiny_model[1], "ollama:tiny-chat")
    finally:
        failing.stop()
    assert "\n" not in str(failed.value) and failing.state.models() == []


def test_unreachable_server_writes_an_ollama_ready_folder_unless_a_server_is_required(env, tiny_model, tmp_path, monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("OLLAMA_HOST", url)
    with pytest.raises(PublishError, match="no Ollama server answers") as failed:
        publish(env, tiny_model[1], "ollama:tiny-chat", require_server=True)
    assert "\n" not in str(failed.value) and env.gguf.builds == 0, "--require-server must fail at plan time"

    planned = env.container.plan_publish().execute(
        PublishRequest(checkpoint=str(tiny_model[1]), formats=(), destinations=("ollama:tiny-chat",))
    )
    assert planned.targets[0].fallback == f"published/{planned.plan.name}/ollama-q4_k_m"  # no dir: given: the default registry
    result = publish(env, tiny_model[1], "ollama:tiny-chat")
    folder = (tmp_path / result.published[0]).resolve()
    assert folder.name == "ollama-q4_k_m" and folder.parent.parent == (tmp_path / "published").resolve()
    assert {p.name for p in folder.iterdir()} >= {"Modelfile", "model.Q4_K_M.gguf", "README.md", "manifest.json"}
    warning = next(m for m in env.progress.messages if m.startswith("warning: no Ollama server"))
    assert url in warning and f"ollama create tiny-chat:latest -f {folder / 'Modelfile'}" in warning


def test_without_a_server_the_ollama_ready_folder_goes_under_the_dir_destination_of_the_same_publish(
    env, tiny_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("OLLAMA_HOST", closed_port_url())
    mine = tmp_path / "mine"
    to = ("ollama:tiny-chat", f"dir:{mine}")
    request = PublishRequest(checkpoint=str(tiny_model[1]), formats=("lora",), destinations=to, options={})
    planned = env.container.plan_publish().execute(request)
    ollama_target = next(t for t in planned.targets if t.destination == "ollama:tiny-chat")
    expected = mine / planned.plan.name / "ollama-q4_k_m"
    assert (ollama_target.location, ollama_target.fallback) == ("tiny-chat:latest", str(expected))
    assert all(t.fallback is None for t in planned.targets if t is not ollama_target)

    result = publish(env, tiny_model[1], *to, formats=("lora",))
    assert sorted(result.published) == sorted([str(expected), str(mine / planned.plan.name / "lora")])
    assert (expected / "Modelfile").is_file() and not (tmp_path / "published").exists()
    warning = next(m for m in env.progress.messages if m.startswith("warning: no Ollama server"))
    assert f"ollama create tiny-chat:latest -f {expected.resolve() / 'Modelfile'}" in warning


def test_blob_digest_mismatch_is_one_line_and_nothing_is_created(server, tmp_path):
    source = tmp_path / "artifact"
    source.mkdir()
    (source / "model.Q4_K_M.gguf").write_bytes(GGUF_HEADER + b"changed after hashing")
    (source / "ollama.json").write_text(OllamaModel(model_file="model.Q4_K_M.gguf", template="{{ .Prompt }}").to_json())
    wrong = FileEntry("model.Q4_K_M.gguf", len(GGUF_HEADER), hashlib.sha256(GGUF_HEADER).hexdigest())
    manifest = Manifest(name="m", format="ollama-q4_k_m", key="k" * 64, params={}, files=(wrong,), inputs={}, tools={})
    pub = Publication(name="m", format="ollama-q4_k_m", source_dir=str(source), card="", manifest=manifest, relation="quantized")
    with pytest.raises(PublishError, match="blob digest mismatch") as failed:
        OllamaRegistry(fallback=LocalDirRegistry()).publish(parse_destination("ollama:m"), [pub], FakeProgress())
    assert "\n" not in str(failed.value)
    assert server.state.models() == [] and server.state.uploads == []
    # the server checks digests itself too
    answer = httpx.post(f"{server.url}/api/blobs/sha256:{'0' * 64}", content=GGUF_HEADER)
    assert answer.status_code == 400 and "digest mismatch" in answer.json()["error"]


def test_ollama_host_is_read_as_ollama_reads_it():
    assert server_url(None) == "http://127.0.0.1:11434"
    assert server_url("0.0.0.0") == "http://127.0.0.1:11434"
    assert server_url("example.com:8080") == "http://example.com:8080"
    assert server_url("https://example.com") == "https://example.com:443"
    assert server_url("[::1]:9999") == "http://[::1]:9999"
