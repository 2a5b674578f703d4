"""Ollama's own parse rules, in the Go checker and in the stand-in server, on derived and hand-written TEMPLATEs.

Ollama's `template.Parse` refuses a template call without a pipeline (`{{ template "x" }}`, "undefined
template specified", since 0.12.4), so `ollama create` refuses such a TEMPLATE; a derived TEMPLATE must
parse there and still fail at render, with the chat template's message, on a conversation the chat
template rejects. The stand-in is driven by the real `ollama` client and shares the Go checker.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import httpx
import ollama
import pytest

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.application.ollama_template import derive_ollama_template
from hubship.domain.chat_learning import derive_structure
from hubship.domain.chat_template import RULES, ChatMessage, TemplateNotDerivable, TemplateRejected, strip_bos, violates
from hubship.domain.go_template import UNKNOWN_ROLE, emit_go_template
from hubship.domain.template_check import OllamaCase
from hubship.domain.tool_check import REASONED_CALL, ollama_order
from tests.integration.test_template_families import profile
from tests.support.ollama_server import StandInServer
from tests.support.stand_in_gguf import GGUF_HEADER, gguf_header

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
M = ChatMessage
REFUSED = "undefined template specified"
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}}


def enforcing(rule: str):
    """A ChatML render in plain Python that raises, with its own message, on exactly the conversations `rule` forbids."""

    def render(messages, *, add_generation_prompt, continue_final, clock=None):
        if violates(rule, [m.role for m in messages]):
            raise TemplateRejected(f"this chat template forbids it ({rule})")
        out = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
        if continue_final:
            return out[: out.rindex(messages[-1].content) + len(messages[-1].content)]
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    return render


@pytest.fixture
def server(tmp_path: Path, go):
    made = StandInServer(tmp_path / "ollama-data", checker=go)
    yield made
    made.stop()


@pytest.fixture
def client(server, tmp_path: Path) -> ollama.Client:
    made = ollama.Client(host=server.url)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(GGUF_HEADER)
    made.create_blob(gguf)
    return made


def create(client: ollama.Client, name: str, template: str, *, stream: bool = True) -> str:
    """Create `name` on the stand-in with `template`, as hubship's registry does; the last status."""
    files = {"model.gguf": f"sha256:{hashlib.sha256(GGUF_HEADER).hexdigest()}"}
    if not stream:
        return client.create(model=name, files=files, template=template, stream=False).status
    return [part.status for part in client.create(model=name, files=files, template=template, stream=True)][-1]


@pytest.mark.parametrize("rule", RULES)
def test_a_derived_template_of_each_rule_parses_as_ollama_does_and_still_refuses(rule, go, client, server):
    structure = derive_structure(enforcing(rule), None)
    assert rule in {r.name for r in structure.rules}
    template = emit_go_template(structure)
    message = f"this chat template forbids it ({rule})"
    assert f'{{{{ template "{message}" . }}}}' in template and f'{{{{ template "{UNKNOWN_ROLE}" . }}}}' in template

    parsed = go.parse(template)
    assert parsed.error is None and parsed.capabilities == ()
    assert create(client, f"kind-{rule.replace('_', '-')}", template) == "success"
    assert server.state.model(f"kind-{rule.replace('_', '-')}")["capabilities"] == ["completion"]

    bad = next(roles for roles in (("system", "user"), ("user", "system", "user"), ("assistant", "user")) if violates(rule, roles))
    broken, tool = go.render(template, [OllamaCase(tuple(M(r, "x") for r in bad)), OllamaCase((M("user", "x"), M("tool", "{}")))])
    assert broken.text is None and f'template "{message}" not defined' in broken.error
    assert tool.text is None and f'template "{UNKNOWN_ROLE}" not defined' in tool.error  # the unknown-role refusal


CAPABILITIES = {
    "gemma-2": ["completion"],
    "llama-2": ["completion"],
    "mistral-v0.3": ["completion", "tools"],
    "qwen2.5": ["completion", "tools"],
    "qwen3": ["completion", "tools", "thinking"],
}


@pytest.mark.parametrize("name", sorted(CAPABILITIES))
def test_real_families_parse_in_the_checker_and_in_the_standins_create(name, renderer, go, client, server):
    derived = derive_ollama_template(renderer, go, profile(name), allow_generic=False)
    assert derived.check.status == "passed" and go.parse(derived.template).error is None
    assert " }}" in derived.template and '{{ template "' in derived.template
    assert create(client, name, derived.template) == "success"
    assert client.show(name).capabilities == CAPABILITIES[name] == ["completion", *go.parse(derived.template).capabilities]
    assert list(derived.capabilities) == CAPABILITIES[name]  # what the card and the manifest list
    assert any("refused when Ollama renders its prompt" in n for n in derived.notes)


@pytest.mark.parametrize("template", ['{{ template "x" }}', '{{ define "x" }}hi{{ end }}{{ range .Messages }}{{ template "x" }}{{ end }}'])
def test_a_template_call_without_a_pipeline_is_refused_with_ollamas_message(template, go, client, server):
    assert go.parse(template).error == REFUSED
    with pytest.raises(TemplateNotDerivable, match=REFUSED):
        go.render(template, [OllamaCase((M("user", "Hi"),))])

    with pytest.raises(ollama.ResponseError) as streamed:  # Ollama streams "parsing GGUF", then the error line
        create(client, "refused", template)
    assert streamed.value.error == f"template error: {REFUSED}"
    with pytest.raises(ollama.ResponseError) as whole:
        create(client, "refused", template, stream=False)
    assert whole.value.error == f"template error: {REFUSED}" and whole.value.status_code == 400
    assert server.state.models() == []
    assert go.parse(template.replace('{{ template "x" }}', '{{ template "x" . }}')).error is None  # with a pipeline, it parses


def test_a_conversation_the_chat_template_rejects_fails_at_render_in_the_standin_chat(renderer, go, client, server):
    p = profile("gemma-2")
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    create(client, "gemma", derived.template)
    with pytest.raises(ollama.ResponseError) as system_first:
        client.chat("gemma", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert system_first.value.status_code == 500 and 'template "System role not supported" not defined' in system_first.value.error
    with pytest.raises(ollama.ResponseError) as tool:
        client.chat("gemma", messages=[{"role": "user", "content": "Hi"}, {"role": "tool", "content": "{}"}])
    assert tool.value.status_code == 500 and UNKNOWN_ROLE in tool.value.error

    answer = httpx.post(f"{server.url}/api/chat", json={"model": "gemma", "messages": [{"role": "user", "content": "Hi"}], "stream": False})
    jinja = renderer.render(p.template, p.tokens, [M("user", "Hi")], add_generation_prompt=True, continue_final=False)
    assert answer.status_code == 200 and answer.json()["standin"]["prompt"] == strip_bos(jinja, p.runtime_bos)


def test_tools_and_think_are_refused_for_a_template_without_them_as_ollama_refuses(renderer, go, client):
    derived = derive_ollama_template(renderer, go, profile("chatml"), allow_generic=False)
    create(client, "plain", derived.template)
    hi = [{"role": "user", "content": "Hi"}]
    with pytest.raises(ollama.ResponseError) as tools:
        client.chat("plain", messages=hi, tools=[TOOL])
    assert tools.value.status_code == 400 and tools.value.error == "registry.ollama.ai/library/plain:latest does not support tools"
    for think in (True, "high"):
        with pytest.raises(ollama.ResponseError) as thinking:
            client.chat("plain", messages=hi, think=think)
        assert thinking.value.status_code == 400 and thinking.value.error == '"plain" does not support thinking'
    with pytest.raises(ollama.ResponseError, match='"plain" does not support thinking'):
        client.generate("plain", prompt="Hi", think=True)
    assert client.chat("plain", messages=hi, think=False).done and client.generate("plain", prompt="Hi").done


THINKING_TOOLS = (
    "{{- if .Tools }}<tools>{{ json .Tools }}</tools>\n{{ end }}"
    "{{- range .Messages }}<|{{ .Role }}|>\n"
    "{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
    "{{ .Content }}\n{{ end }}<|assistant|>\n"
)


def test_a_template_with_tools_and_thinking_gets_both_capabilities_and_is_served(go, client, server):
    assert go.parse(THINKING_TOOLS).capabilities == ("tools", "thinking")
    # thinking.InferTags reads `.Thinking` only: `$m.Thinking`, or tags written as quoted strings, give no tags
    as_variable = "{{ range $m := .Messages }}{{ if $m.Thinking }}<think>{{ $m.Thinking }}</think>{{ end }}{{ end }}"
    quoted = '{{ range .Messages }}{{ if .Thinking }}{{ "<think>" }}{{ .Thinking }}{{ "</think>" }}{{ end }}{{ end }}'
    assert go.parse(as_variable).capabilities == () and go.parse(quoted).capabilities == ()
    assert go.parse("{{ .Prompt }}{{ .Suffix }}").capabilities == ("insert",)

    create(client, "agent", THINKING_TOOLS)
    assert client.show("agent").capabilities == ["completion", "tools", "thinking"]
    answer = httpx.post(
        f"{server.url}/api/chat",
        json={"model": "agent", "messages": [{"role": "user", "content": "Hi"}], "tools": [TOOL], "think": True, "stream": False},
    )
    # the request's tools reach the TEMPLATE as Ollama hands them over: Go's JSON, a missing `properties` as null
    tools = '<tools>[{"type":"function","function":{"name":"get_weather","description":"Weather",'
    tools += '"parameters":{"type":"object","properties":null}}}]</tools>\n'
    assert answer.status_code == 200 and answer.json()["standin"]["prompt"] == tools + "<|user|>\nHi\n<|assistant|>\n"


def test_the_standins_create_gives_a_gemma4_gguf_ollamas_own_renderer_as_ollama_create_does(client, server, tmp_path):
    for arch, parser in (("gemma4", None), ("laguna", "qwen3-coder"), ("llama", None)):
        gguf = tmp_path / f"{arch}.gguf"
        gguf.write_bytes(gguf_header(arch))
        client.create_blob(gguf)
        files = {"model.gguf": f"sha256:{hashlib.sha256(gguf.read_bytes()).hexdigest()}"}
        made = {"model": arch, "files": files, "template": "{{ .Prompt }}", "stream": False, **({"parser": parser} if parser else {})}
        assert httpx.post(f"{server.url}/api/create", json=made).json()["status"] == "success"  # the client sends no PARSER
    shown = {arch: httpx.post(f"{server.url}/api/show", json={"model": arch}).json() for arch in ("gemma4", "laguna", "llama")}
    assert (shown["gemma4"]["renderer"], shown["gemma4"]["parser"]) == ("gemma4", "gemma4")
    assert (shown["laguna"]["renderer"], shown["laguna"]["parser"]) == ("laguna", "qwen3-coder")  # a named PARSER is kept
    assert "renderer" not in shown["llama"] and "parser" not in shown["llama"]
    chat = {"messages": [{"role": "user", "content": "Hi"}], "stream": False}
    answer = httpx.post(f"{server.url}/api/chat", json={"model": "gemma4", **chat}).json()
    assert answer["standin"] == {"renderer": "gemma4"}  # Ollama's Go renderer writes the prompt: the stand-in says so
    assert httpx.post(f"{server.url}/api/chat", json={"model": "llama", **chat}).json()["standin"]["prompt"] == "Hi"


def test_a_tool_loop_with_thinking_reaches_the_standin_as_training_rendered_it(renderer, go, client, server):
    """Qwen3 in the stand-in, through Ollama's API: tools offered, a call after reasoning, its result; think off. The
    prompt is the Jinja render (argument keys sorted, as Ollama's map hands them over)."""
    p = profile("qwen3")
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert create(client, "qwen3", derived.template) == "success"
    tools, messages = REASONED_CALL
    request = [
        {"role": "user", "content": messages[0].content},
        {
            "role": "assistant",
            "content": "",
            "thinking": messages[1].thinking,
            "tool_calls": [{"function": {"name": c.name, "arguments": json.loads(c.arguments)}} for c in messages[1].tool_calls],
        },
        {"role": "tool", "content": messages[2].content, "tool_name": messages[2].tool_name},
    ]
    body = {"model": "qwen3", "messages": request, "tools": [json.loads(t) for t in tools], "think": False, "stream": False}
    answer = httpx.post(f"{server.url}/api/chat", json=body)
    jinja = renderer.render(
        p.template, p.tokens, ollama_order(messages), add_generation_prompt=True, continue_final=False, tools=tools, think=False
    )
    assert answer.status_code == 200 and answer.json()["standin"]["prompt"] == jinja
    assert "<think>\nI need the weather in Zürich first.\n</think>\n\n<tool_call>" in jinja and jinja.endswith("<think>\n\n</think>\n\n")


def test_a_relative_workspace_still_runs_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hubship publish ... -w ws` hands the checker a relative cache: Go refuses a relative GOPATH, which read as Go missing."""
    monkeypatch.chdir(tmp_path)
    checker = GoTemplateChecker(Path("ws"))
    assert checker.version() is not None
    assert checker.parse("{{ .Prompt }}").error is None
