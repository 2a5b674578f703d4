"""Ollama 0.30.0+'s other renderer: where it prefers the GGUF's own chat template (domain.ollama_runtime), the tool
conversations as Ollama hands them to llama-server, rendered by the real llama-server built from the pinned source
(application.served_proof), and a publish that records it."""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubship.adapters.llama_cpp.llama_server import LlamaServerServedChat
from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer
from hubship.application.ollama_runtime_check import HINTED, NATIVE_TOOLS, PATCHED, RECORD
from hubship.application.ollama_template import derive_ollama_template
from hubship.application.ollama_tools import jinja_outcome
from hubship.application.served_conversations import EQUAL
from hubship.application.served_proof import native_case, prove_served
from hubship.domain.llama_cpp_template import patch_for_llama_cpp, py_str
from hubship.domain.ollama_runtime import (
    GGUF_TEMPLATE,
    OLLAMA_VERSION,
    ROUND_TRIP,
    TEMPLATE,
    THINKING_HINT,
    jinja_capabilities,
    ollama_runtime,
)
from hubship.domain.quality import VERIFICATION_FILE
from hubship.domain.tool_check import tool_cases
from tests.support.native_figures import TOKENS, served_gguf
from tests.support.ollama_server import StandInServer
from tests.support.template_collection import profile_for, templates_dir

LFM2 = "LFM2-8B-A1B"  # tools listed, calls not written (Ollama 0.30+ renders it with the GGUF's template)
MINICPM5 = "openbmb-MiniCPM5-1B"  # thinking off unless asked; llama-server turns it on when the request sets no think
LLAMA31 = "meta-llama-Llama-3.1-8B-Instruct"
KIMI_K3 = "Kimi-K3"  # thinks without <think>: Ollama keeps its TEMPLATE, which has thinking and no tools
SEED_OSS = "ByteDance-Seed-OSS"  # a JSON schema type list tested against a tuple: llama.cpp's engine stops
FUNCTIONARY32 = "meetkai-functionary-medium-v3.2"  # joins a call's arguments to a string: takes their text, not a dict


def collection(name: str) -> str:
    return (templates_dir() / f"{name}.jinja").read_text(encoding="utf-8")


def test_a_derived_tool_template_keeps_ollama_on_it_where_the_chat_template_has_no_more(tmp_path: Path) -> None:
    text = collection(LLAMA31)
    derived = derive_ollama_template(JinjaChatRenderer(), GoTemplateChecker(tmp_path), profile_for(text), allow_generic=False)
    assert "tools" in derived.capabilities and ROUND_TRIP in derived.template
    assert ollama_runtime(text, derived.template, derived.capabilities).renderer == TEMPLATE
    # the same TEMPLATE without the role text Ollama reads: Ollama 0.30+ would bypass the proven TEMPLATE
    unmarked = derived.template.replace(ROUND_TRIP, 'eq $m.Role "tool"')
    assert ollama_runtime(text, unmarked, derived.capabilities).renderer == GGUF_TEMPLATE


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LlamaServerServedChat, Path, Path]]:
    work = tmp_path_factory.mktemp("native")
    with LlamaServerServedChat() as chat:
        yield chat, served_gguf(work), work


def _prove(served, name: str, thinks: tuple[bool | None, ...] = (None,), patched: bool = False):
    """The tool conversations of collection template `name` (llama-server serving it `patched` for llama.cpp or as it
    is) against transformers' render of the template as it is."""
    chat, gguf, work = served
    text = collection(name)
    file = work / f"{name}{'.patched' if patched else ''}.jinja"  # a new file: llama-server serves it afresh
    file.write_text(patch_for_llama_cpp(text) if patched else text)

    def render(messages, **options):
        return JinjaChatRenderer().render(text, TOKENS, messages, **options)

    cases = [c for think in thinks for c in tool_cases(None, (None,), think)]
    return prove_served(render, chat, gguf, TOKENS["bos_token"], cases, template=file)


@pytest.mark.slow
def test_llama_server_renders_the_tool_conversations_of_a_template_ollama_hands_it(served) -> None:
    proof = _prove(served, LFM2)
    assert proof.proven(), proof.differences
    assert proof.rendered == len(tool_cases(None)) and proof.calls_rendered


@pytest.mark.slow
def test_a_template_that_takes_argument_text_gets_the_text_llama_server_gets(served) -> None:
    proof = _prove(served, FUNCTIONARY32)
    assert proof.proven(), proof.differences
    assert proof.rendered == len(tool_cases(None)) and proof.calls_rendered
    # transformers fails on the decoded arguments this template joins to a string: they prove nothing
    render = lambda messages, **o: JinjaChatRenderer().render(collection(FUNCTIONARY32), TOKENS, messages, **o)  # noqa: E731
    called = next(c for c in tool_cases(None) if any(m.tool_calls for m in c.messages))
    assert jinja_outcome(render, None, native_case(called)).error is not None


@pytest.mark.slow
def test_a_template_ollama_keeps_without_tools_has_them_on_llama_server_with_the_go_template_off(served, tmp_path) -> None:
    text = collection(KIMI_K3)
    derived = derive_ollama_template(JinjaChatRenderer(), GoTemplateChecker(tmp_path), profile_for(text), allow_generic=False)
    assert "tools" not in derived.capabilities and "thinking" in derived.capabilities
    assert jinja_capabilities(text) == {"tools"} and ollama_runtime(text, derived.template, derived.capabilities).renderer == TEMPLATE
    proof = _prove(served, KIMI_K3, (None, True, False))
    assert proof.proven(), proof.differences
    assert proof.calls_rendered


@pytest.mark.slow
def test_llama_servers_own_thinking_default_fails_the_native_proof(served) -> None:
    proof = _prove(served, MINICPM5, (None, True, False))
    assert not proof.proven()
    # no think in the request: transformers leaves enable_thinking undefined (off here), llama-server turns it on
    assert (
        proof.differences[0].startswith("tools: one tool: ")
        and "vs llama-server 'im_start|>assistant\\n<think>\\n'" in proof.differences[0]
    )
    assert not any(d.startswith("tools: one tool (think") for d in proof.differences)  # set, it renders as transformers does
    # and a dict printed as text (keys sorted, as Ollama holds an object inside the arguments): Python's jinja2 writes
    # its repr, llama.cpp's engine writes nothing
    assert any("{\\'days\\': 3" in d and 'vs llama-server \'aram name="options"></param>' in d for d in proof.differences)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "unpatched"),
    [(MINICPM5, 'vs llama-server \'aram name="options"></param>'), (SEED_OSS, 'Unknown operator "in" between Array and Tuple')],
)
def test_a_template_patched_for_llama_cpp_renders_the_tool_conversations_as_transformers_renders_it(served, name, unpatched) -> None:
    thinks = (True, False)  # as Ollama sends them to a model it reads as thinking (it turns an unset think on)
    assert any(unpatched in d for d in _prove(served, name, thinks).differences)
    proof = _prove(served, name, thinks, patched=True)
    assert proof.proven(), proof.differences
    assert proof.rendered == 2 * len(tool_cases(None)) and proof.calls_rendered


def _publish_with(cli, checkpoint: Path, tmp_path: Path, name: str) -> tuple[dict, dict, str]:
    """Publish `checkpoint` with collection template `name` to a stand-in Ollama: (the Ollama artifact's record, the
    GGUF artifact's, the published GGUF's chat template)."""
    (checkpoint / "chat_template.jinja").write_text(collection(name))
    config = checkpoint / "tokenizer_config.json"
    data = json.loads(config.read_text())
    data.pop("chat_template", None)
    config.write_text(json.dumps(data))
    server = StandInServer(tmp_path / "ollama-data")
    try:
        done = cli("publish", str(checkpoint), "--to", "ollama:m", "--workspace", str(tmp_path / "ws"), env={"OLLAMA_HOST": server.url})
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    records = [(p, json.loads(p.read_text())) for p in (tmp_path / "ws").rglob(VERIFICATION_FILE)]
    (ollama,) = [r for p, r in records if (p.parent / "Modelfile").is_file()]
    ((path, gguf),) = [(p, r) for p, r in records if "quantization" in r["metrics"]]
    (model,) = path.parent.glob("*.gguf")
    return ollama, gguf, LlamaServerServedChat().chat_template(model) or ""


@pytest.mark.slow
def test_publishing_a_model_ollama_renders_with_its_gguf_template_records_the_native_tools(cli, checkpoint_copy, tmp_path) -> None:
    record, gguf, chat_template = _publish_with(cli, checkpoint_copy, tmp_path, LFM2)
    assert chat_template == collection(LFM2)  # Ollama 0.30+ picks it as it is: no comment written
    metrics = record["metrics"]
    assert metrics["ollama_runtime"] == GGUF_TEMPLATE
    assert "tools" not in metrics["ollama_capabilities"]  # the TEMPLATE: LFM2's calls are not written, none to read back
    assert metrics["ollama_capabilities_native"].startswith("completion, tools")
    cases = metrics["ollama_native_tool_conversations"]
    assert NATIVE_TOOLS.format(cases=cases) in record["notes"]
    # the GGUF itself: the tool conversations as an OpenAI-compatible client sends them to llama-server
    assert gguf["metrics"]["served_chat_conversations"] == 6 and gguf["metrics"]["served_chat_differences"] == 0
    assert EQUAL.format(cases=6, kinds="tool") in gguf["notes"]
    # its record of Ollama 0.30.0+'s renderer (for its Hub Ollama files) answers as the Ollama artifact's does (that the
    # artifact takes it rather than prove again is test_ollama_runtime_check's)
    kept = gguf[RECORD]
    assert kept["metrics"] == {k: metrics[k] for k in kept["metrics"]} and set(kept["notes"]) <= set(record["notes"])
    shutil.rmtree(tmp_path / "ws", ignore_errors=True)


@pytest.mark.slow
def test_a_reasoning_template_ollama_would_keep_without_tools_is_published_with_the_thinking_hint(cli, checkpoint_copy, tmp_path) -> None:
    ollama, gguf, chat_template = _publish_with(cli, checkpoint_copy, tmp_path, KIMI_K3)
    assert chat_template == THINKING_HINT + collection(KIMI_K3)  # the comment, then the checkpoint's own template
    metrics = ollama["metrics"]
    assert metrics["ollama_runtime"] == GGUF_TEMPLATE and metrics["ollama_capabilities_native"] == "completion, tools, thinking"
    assert "tools" not in metrics["ollama_capabilities"]  # the TEMPLATE, as Ollama before 0.30 uses it, as before
    assert metrics["ollama_native_tool_conversations"] > 0 and "ollama_go_template_off_tool_conversations" not in metrics
    assert HINTED.format(version=OLLAMA_VERSION) in ollama["notes"] and not ollama["warnings"]
    # the GGUF's own proofs ran on the hinted template: a client renders it as the checkpoint's template renders
    assert gguf["metrics"]["served_chat_differences"] == 0 and gguf["metrics"]["chat_token_check"] == "passed", gguf["metrics"]


@pytest.mark.slow
def test_llama_server_writes_a_value_through_the_patch_macro_as_python_writes_it(served) -> None:
    chat, gguf, work = served
    unprintable = "".join(
        chr(c) for c in range(1, 0x110000) if not chr(c).isprintable() and unicodedata.category(chr(c)) in ("Cc", "Cf", "Zs", "Zl", "Zp")
    )
    value = {
        "b": 1,
        "a": [1, "x", None, True, False, 2.5, {"k": "it's"}],
        "quotes": ['say "hi"', "' and \""],
        "escaped": "back\\slash l\nb\tt\rr " + unprintable,
        "text": "émoji 🌦 b<c & d",
        "empty": [{}, []],
    }
    file = work / "hubship_py.jinja"
    file.write_text(py_str() + "[{{ hubship_py(tools[0]['function']['parameters']) }}]")
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": value}}
    (outcome,) = chat.apply(gguf, [{"messages": [{"role": "user", "content": "hi"}], "tools": [tool]}], file)
    assert outcome.text == f"[{value}]"  # key order, None, True, quotes and every escape as Python's str writes them


@pytest.mark.slow
def test_a_template_llama_cpp_writes_otherwise_is_published_patched_where_that_proves(cli, checkpoint_copy, tmp_path) -> None:
    ollama, gguf, chat_template = _publish_with(cli, checkpoint_copy, tmp_path, MINICPM5)
    assert chat_template == patch_for_llama_cpp(collection(MINICPM5))  # the second candidate: as it is, it differs
    metrics = ollama["metrics"]
    assert metrics["ollama_runtime"] == GGUF_TEMPLATE and metrics["ollama_capabilities_native"] == "completion, tools, thinking"
    assert metrics["ollama_native_tool_conversations"] > 0 and PATCHED in ollama["notes"] and not ollama["warnings"]
    # the GGUF's own proofs ran on the patched template; a client that sets no think gets llama-server's own default
    # (on), where transformers leaves it off: that, no template can change (test_llama_servers_own_thinking_default_...)
    assert gguf["metrics"]["chat_token_check"] == "passed" and gguf["metrics"]["served_chat_differences"] > 0
    (served,) = [w for w in gguf["warnings"] if w.startswith("llama-server renders ")]
    assert "(tools: one tool: differs" in served and "vs llama-server 'im_start|>assistant\\n<think>\\n')" in served
    shutil.rmtree(tmp_path / "ws", ignore_errors=True)
