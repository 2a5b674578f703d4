"""Tools, tool calls, tool results, reasoning and the think switch reach both renderers as their runtimes hand them over:
transformers' `apply_chat_template(messages, tools=..., enable_thinking=...)` for Jinja, Ollama's template data for Go."""

from __future__ import annotations

import json
import shutil

import pytest

from hubship.domain.chat_template import ChatMessage, ToolCall
from hubship.domain.template_check import OllamaCase, TemplateTags

needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")

TOOL = json.dumps(
    {
        "type": "function",
        "function": {
            "name": "f",
            "description": "d <&>",
            "parameters": {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}}},
        },
    }
)
ARGS = '{"z": 1, "a": {"y": [1, "<&é"]}, "t": true}'
MESSAGES = (
    ChatMessage("user", "hi"),
    ChatMessage("assistant", "", tool_calls=(ToolCall("f", ARGS, "call_1"),), thinking="hmm"),
    ChatMessage("tool", "21", tool_name="f", tool_call_id="call_1"),
)
JINJA = (
    "{% for t in tools %}{{ t | tojson }}|{% endfor %}"
    "{% for m in messages %}[{{ m.role }}:{{ m.content }}"
    "{% for c in m.tool_calls or [] %}{{ c.id }} {{ c.function.name }} {{ c.function.arguments | tojson }}{% endfor %}"
    "{{ m.reasoning_content or '' }}{{ m.name or '' }}{{ m.tool_call_id or '' }}]{% endfor %}"
    "{{ enable_thinking if enable_thinking is defined else 'unset' }}"
)
GO = (
    "{{ range .Tools }}{{ . }}|{{ end }}{{ range .Messages }}[{{ .Role }}:{{ .Content }}"
    "{{ range .ToolCalls }}{{ .ID }} {{ .Function.Name }} {{ .Function.Arguments }}{{ end }}"
    "{{ .Thinking }}{{ .ToolName }}{{ .ToolCallID }}]{{ end }}{{ .Think }} {{ .IsThinkSet }}"
)


def test_jinja_gets_tools_calls_results_reasoning_and_the_switch(renderer):
    def render(think):
        return renderer.render(JINJA, {}, MESSAGES, add_generation_prompt=False, continue_final=False, tools=(TOOL,), think=think)

    calls = '[assistant:call_1 f {"z": 1, "a": {"y": [1, "<&é"]}, "t": true}hmm]'
    assert render(None) == f"{json.dumps(json.loads(TOOL))}|[user:hi]{calls}[tool:21fcall_1]unset"
    assert render(False).endswith("]False") and render(True).endswith("]True")


@needs_go
def test_go_gets_them_as_ollama_hands_them_to_a_template(go):
    """Ollama's shapes: arguments and tools print as Go's JSON (compact, keys sorted, `<`/`&` escaped)."""
    cases = [OllamaCase(MESSAGES, tools=(TOOL,), think=think) for think in (None, True, False)]
    unset, on, off = (r.text for r in go.render(GO, cases))
    tool = (
        '{"type":"function","function":{"name":"f","description":"d \\u003c\\u0026\\u003e",'
        '"parameters":{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"}}}}}'
    )
    calls = '[assistant:call_1 f {"a":{"y":[1,"\\u003c\\u0026é"]},"t":true,"z":1}hmm]'
    assert unset == f"{tool}|[user:hi]{calls}[tool:21fcall_1]false false"
    assert on.endswith("]true true") and off.endswith("]false true")


@needs_go
def test_the_tags_ollama_reads_from_a_template_come_from_its_raw_text_only(go):
    """Ollama's tool-call tag is the raw text opening the first `if .ToolCalls` block; its thinking tags the raw text
    around `.Thinking` in a range over `.Messages`. Quoted actions and variables (`$m.Thinking`) give nothing."""
    raw = (
        '{{ range .Messages }}{{ if .ToolCalls }}<tool_call>\n{"name": {{ end }}'
        "{{ if .Thinking }}<think>\n{{ .Thinking }}\n</think>{{ end }}{{ end }}"
    )
    quoted = '{{ range $i, $m := .Messages }}{{ if .ToolCalls }}{{ "<tool_call>" }}{{ end }}<think>{{ $m.Thinking }}</think>{{ end }}'
    assert go.tags(raw) == TemplateTags("<tool_call>", "<think>", "</think>") and go.tags(raw).thinking
    assert go.tags(quoted) == TemplateTags("{", "", "") and not go.tags(quoted).thinking
