"""What the Ollama model's record says of Ollama 0.30.0+'s renderer (application.ollama_runtime_check), with a fake
llama-server: its verdicts, not its rendering (tests/integration/test_ollama_native.py runs the real one)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hubship.adapters.torch.chat_renderer import JinjaChatRenderer
from hubship.application.chat_inputs import render_with
from hubship.application.ollama_runtime_check import HINTED, NO_REASONING, runtime_record
from hubship.application.ollama_tools import jinja_outcome
from hubship.application.served_proof import native_case
from hubship.domain.chat_template import ChatProfile
from hubship.domain.errors import UserInputError
from hubship.domain.ollama_runtime import THINKING_HINT
from hubship.domain.served_requests import native_messages, ollama_tool_cases
from hubship.domain.template_check import RenderOutcome

# tools listed, calls not written (LFM2's shape), reasoning tags: Ollama 0.30+ picks it over a TEMPLATE without tools
TEMPLATE = (
    "{% if tools %}<|im_start|>system\nTools: {{ tools | tojson }}<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
    "{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
PROFILE = ChatProfile(template=TEMPLATE, tokens={"bos_token": "<s>", "eos_token": "</s>"})
DERIVED = SimpleNamespace(template="{{ range .Messages }}{{ .Content }}{{ end }}", capabilities=("completion",), parser="", system=None)


class Served:
    """llama-server as a fake: renders as transformers does, or with `changed` appended, or is not built; the GGUF it
    serves holds `chat_template` (the checkpoint's by default)."""

    def __init__(self, changed: str = "", missing: bool = False, arch: str = "llama", chat_template: str | None = TEMPLATE) -> None:
        self.changed, self.missing, self.closed, self.requests, self.arch = changed, missing, False, 0, arch
        self.template = chat_template

    def architecture(self, gguf: Path) -> str:
        return self.arch

    def chat_template(self, gguf: Path) -> str | None:
        return self.template

    def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
        if self.missing:
            raise UserInputError("llama-server is not installed; run `make setup`")
        self.requests += len(requests)
        return [RenderOutcome(text=t.text + self.changed) for t in self.expected]

    def close(self) -> None:
        self.closed = True


def record(served: Served) -> dict[str, Any]:

    render = render_with(JinjaChatRenderer(), PROFILE)
    served.expected = [jinja_outcome(render, None, native_case(c)) for c in ollama_tool_cases(None, True, True)]  # on, off
    return runtime_record(JinjaChatRenderer(), served, PROFILE, DERIVED, Path("model.gguf"), "llama")


def test_a_proven_native_path_lists_its_tools_and_says_why_ollama_takes_it() -> None:
    served = Served()
    found = record(served)
    assert found["metrics"]["ollama_runtime"] == "GGUF chat template"
    assert found["metrics"]["ollama_capabilities_native"] == "completion, tools, thinking"
    assert found["metrics"]["ollama_native_tool_conversations"] == served.requests == 12  # 6, think on and off (thinking)
    assert "more capabilities (thinking, tools) than the TEMPLATE (none)" in found["notes"][0] and NO_REASONING in found["notes"]
    assert not found["warnings"] and not served.closed  # left running for the caller's next proof on the GGUF


def test_a_render_llama_server_changes_warns_and_lists_no_tools() -> None:
    found = record(Served(changed="<extra>"))
    assert found["metrics"]["ollama_capabilities_native"] == "completion, thinking"
    (warning,) = found["warnings"]
    assert warning.startswith("tools on Ollama 0.30.0+ reach the model otherwise") and "vs llama-server" in warning


def test_without_llama_server_the_native_tools_are_not_proven_and_not_listed() -> None:
    found = record(Served(missing=True))
    assert "tools" not in found["metrics"]["ollama_capabilities_native"]
    assert found["warnings"] == [
        "tools on Ollama 0.30.0+ are not proven: llama-server was not run (llama-server is not installed; run `make setup`)"
    ]


def test_a_template_ollama_keeps_adds_only_the_renderer() -> None:
    derived = SimpleNamespace(**{**vars(DERIVED), "capabilities": ("completion", "tools", "thinking")})
    found = runtime_record(JinjaChatRenderer(), Served(missing=True), PROFILE, derived, Path("model.gguf"), "llama")
    assert found == {"metrics": {"ollama_runtime": "TEMPLATE"}, "notes": [], "warnings": []}
    assert native_messages([], "sys")[0].content == "sys"


def test_the_ollama_artifact_takes_the_record_its_gguf_artifact_proved_for_the_same_template(tmp_path: Path) -> None:
    from hubship.application.format_builder import BuildContext
    from hubship.application.formats.ollama import OllamaFormat
    from hubship.application.node_build import save_verification
    from hubship.application.ollama_runtime_check import RECORD, runtime_key

    ollama = OllamaFormat("Q8_0")
    gguf_dir = tmp_path / ollama.gguf
    gguf_dir.mkdir()
    proven = record(Served())
    save_verification(gguf_dir, {"metrics": {}, RECORD: {"key": runtime_key(PROFILE, DERIVED, "llama"), **proven}})
    unbuilt = Served(missing=True)
    services = {"served_chat": unbuilt, "chat_renderer": JinjaChatRenderer()}
    base = SimpleNamespace(model_type="llama")
    ctx = BuildContext(
        checkpoint=None, base=base, params={}, inputs={ollama.gguf: gguf_dir}, out_dir=tmp_path, progress=None, services=services
    )  # type: ignore[arg-type]
    assert ollama._runtime(ctx, PROFILE, DERIVED, gguf_dir / "m.gguf") == proven  # llama-server not needed
    assert not unbuilt.closed
    # another TEMPLATE (here another SYSTEM) is proven anew, and the server it started is stopped
    other = SimpleNamespace(**{**vars(DERIVED), "system": "Be brief."})
    found = ollama._runtime(ctx, PROFILE, other, gguf_dir / "m.gguf")
    assert found["warnings"][0].startswith("tools on Ollama 0.30.0+ are not proven") and unbuilt.closed


def test_a_template_ollama_keeps_without_tools_says_when_ollama_go_template_0_gives_them() -> None:
    from hubship.domain.tool_check import tool_cases

    # the chat template lists tools but reads to Ollama as having no thinking; the TEMPLATE thinks and has no tools
    chat = TEMPLATE.replace("<think>", "<reasoning>")
    profile = ChatProfile(template=chat, tokens=PROFILE.tokens)
    derived = SimpleNamespace(**{**vars(DERIVED), "capabilities": ("completion", "thinking")})
    render = render_with(JinjaChatRenderer(), profile)
    kinds = (Served(chat_template=chat), True), (Served(changed="<extra>", chat_template=chat), False)
    for served, proven in (*kinds, (Served(missing=True, chat_template=chat), False)):
        served.expected = [jinja_outcome(render, None, native_case(c)) for c in tool_cases(None)]
        found = runtime_record(JinjaChatRenderer(), served, profile, derived, Path("model.gguf"), "llama")
        assert found["metrics"]["ollama_runtime"] == "TEMPLATE" and not found["warnings"]
        assert ("ollama_go_template_off_tool_conversations" in found["metrics"]) is proven
        assert len(found["notes"]) == proven
        said = "no more capabilities (tools) from the chat template than from the TEMPLATE (thinking)"
        assert all(n.startswith("tools on Ollama 0.30.0+ with OLLAMA_GO_TEMPLATE=0") and said in n for n in found["notes"])
    # the same model from a GGUF that carries the thinking hint: Ollama renders it in llama.cpp, with its tools
    served = Served(chat_template=THINKING_HINT + chat)
    served.expected = [jinja_outcome(render, None, native_case(c)) for c in ollama_tool_cases(None, True, True)]
    found = runtime_record(JinjaChatRenderer(), served, profile, derived, Path("model.gguf"), "llama")
    assert found["metrics"]["ollama_runtime"] == "GGUF chat template", found
    assert found["metrics"]["ollama_capabilities_native"] == "completion, tools, thinking" and not found["warnings"]
    assert HINTED.format(version="0.30.0") in found["notes"]


def test_a_model_ollama_create_gives_a_built_in_renderer_is_not_claimed_for_the_template(tmp_path: Path) -> None:
    from hubship.application.format_builder import BuildContext
    from hubship.application.formats.ollama import OllamaFormat
    from hubship.application.ollama_runtime_check import created_record

    assert created_record("llama") is None and created_record("qwen3moe") is None and created_record("") is None
    found = created_record("gemma4")
    assert found is not None and found["metrics"] == {"ollama_runtime": "built-in renderer gemma4"}
    (warning,) = found["warnings"]
    assert "architecture gemma4 Ollama's built-in renderer `gemma4` and parser `gemma4`" in warning and "not proven" in warning
    # the Ollama artifact says so, and runs no llama-server for a choice Ollama does not make
    unbuilt = Served(missing=True, arch="laguna")
    services = {"served_chat": unbuilt, "chat_renderer": JinjaChatRenderer()}
    ollama = OllamaFormat("Q8_0")
    ctx = BuildContext(
        checkpoint=None, base=SimpleNamespace(model_type="llama"), params={}, inputs={}, out_dir=tmp_path, progress=None, services=services
    )  # type: ignore[arg-type]
    assert ollama._runtime(ctx, PROFILE, DERIVED, tmp_path / "m.gguf")["metrics"]["ollama_runtime"] == "built-in renderer laguna"
    assert not unbuilt.closed and unbuilt.requests == 0


def test_the_reference_takes_argument_text_only_where_the_template_fails_on_every_decoded_call() -> None:
    from hubship.application.served_proof import prove_served
    from hubship.domain.chat_template import TemplateRejected
    from hubship.domain.tool_check import tool_cases

    class Echo:
        """llama-server as a fake that writes each request's call arguments as it gets them (their text)."""

        def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
            calls = [[c["function"]["arguments"] for m in r["messages"] for c in m.get("tool_calls", [])] for r in requests]
            return [RenderOutcome(text="|".join(c) or "plain") for c in calls]

    def template(fails_decoded: Callable[[Sequence[Any]], bool]) -> Callable[..., str]:
        def render(messages: Sequence[Any], **_: Any) -> str:
            calls = [c for m in messages for c in m.tool_calls]
            if any(not c.as_text for c in calls) and fails_decoded(calls):
                raise TemplateRejected('can only concatenate str (not "dict") to str')
            return "|".join(c.arguments for c in calls) or "plain"

        return render

    cases = tool_cases(None)
    # fails on decoded arguments in every conversation with calls: the reference gets their text, as llama.cpp's
    proof = prove_served(template(lambda calls: True), Echo(), Path("m.gguf"), None, cases)
    assert proof.proven() and proof.rendered == len(cases), proof.differences
    # fails only where a message has two calls: llama.cpp would decode for it, so the failure stays a difference
    partial = prove_served(template(lambda calls: len(calls) > 1), Echo(), Path("m.gguf"), None, cases)
    assert any("Jinja rejects it (can only concatenate" in d for d in partial.differences)
