"""A tool result that writes its function's name: Solar Open looks it up by the call id the result cites
(`get_tool_name`), which the TEMPLATE does too (a range over `.Messages`' calls); a result's own `name` would be
`.ToolName`; gpt-oss writes the name of the first call of the latest message with calls (`last_tool_call`), which the
TEMPLATE finds by a range over the messages before this one. Any other rule is refused."""

from __future__ import annotations

import json
import shutil

import pytest

from hubship.application.ollama_template import derive_ollama_template
from hubship.application.ollama_tools import check_tools
from hubship.domain.chat_calls import BY_ID, BY_LAST, BY_NAME
from hubship.domain.tool_check import tool_cases
from hubship.domain.tool_facts import Prober, result_names
from tests.integration.test_template_tool_only import collection_profile

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")


def _template(name_of):
    """A toy template: calls as `[name args]`, results as `<name_of(result, calls)|content>`."""

    def render(messages, *, tools=(), **mode):
        calls, out = [], []
        for m in messages:
            calls += list(m.tool_calls)
            out.append("".join(f"[{c.name} {c.arguments}]" for c in m.tool_calls) if m.tool_calls else "")
            out.append(f"<{name_of(m, calls)}|{m.content}>" if m.role == "tool" else m.content)
        return "".join(out)

    return render


@pytest.mark.parametrize(
    ("name_of", "source"),
    [
        (lambda m, calls: m.tool_name, BY_NAME),
        (lambda m, calls: next(c.name for c in calls if c.id == m.tool_call_id), BY_ID),
        (lambda m, calls: calls[0].name, ""),
        (lambda m, calls: calls[-1].name, ""),
    ],
)
def test_where_a_results_name_comes_from_is_told_apart(name_of, source):
    assert result_names(Prober(_template(name_of), None), json.dumps({"type": "function", "function": {"name": "f"}})) == source


def test_the_first_call_of_the_latest_calls_message_is_told_apart_from_the_first_call_of_all():
    def render(messages, *, tools=(), **mode):
        out, last = [], ""
        for m in messages:
            last = m.tool_calls[0].name if m.tool_calls else last
            out.append("".join(f"[{c.name} {c.arguments}]" for c in m.tool_calls) if m.tool_calls else "")
            out.append(f"<{last}|{m.content}>" if m.role == "tool" else m.content)
        return "".join(out)

    assert result_names(Prober(render, None), json.dumps({"type": "function", "function": {"name": "f"}})) == BY_LAST


def _proven_two_calls(renderer, go, name: str, rule: str) -> tuple[object, str]:
    """The derived TEMPLATE of collection template `name` (its result-name `rule` in it), proven on every tool
    conversation; the derivation and its Go render of the two-calls conversation."""
    p = collection_profile(name)
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert "tools" in d.capabilities, d.notes
    assert rule in (d.template or "")

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    cases = tool_cases(d.system, (None,))
    assert not check_tools(render, go, p.runtime_bos, d.template, cases)
    two = next(c for c in cases if c.name.startswith("tools: two calls"))
    (out,) = go.render(d.template, [two.ollama])
    return d, out.text or ""


def test_gpt_oss_names_each_result_by_the_latest_first_call_and_is_translated(renderer, go):
    d, text = _proven_two_calls(renderer, go, "openai-gpt-oss-120b", "{{ $named = (index $x.ToolCalls 0).Function.Name }}")
    assert "thinking" in d.capabilities
    # gpt-oss keeps a calls turn's reasoning only when no final answer follows: not derived, dropped, and said so
    assert any(n.startswith("thinking: in a conversation with tools, reasoning in history is not written") for n in d.notes)
    assert text.count("<|start|>functions.get_weather to=assistant") == 2, "both results name the first call, as gpt-oss writes"
    assert "to=functions.search_web" not in text, "the second call is dropped, as gpt-oss drops it"


def test_solar_writes_the_cited_calls_name_in_each_result_and_is_translated(renderer, go):
    _, text = _proven_two_calls(renderer, go, "upstage-Solar-Open-100B", "{{ if eq $c.ID $m.ToolCallID }}{{ $c.Function.Name }}")
    assert "<|tool_response:name|>get_weather<|tool_response:result|>" in text
    assert "<|tool_response:name|>search_web<|tool_response:result|>" in text, text
