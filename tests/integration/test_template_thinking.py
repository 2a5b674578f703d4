"""Thinking in the derived Ollama TEMPLATE, on Qwen3's template as it ships: the think switch (`enable_thinking` vs
Ollama's `.Think`/`.IsThinkSet`) and the reasoning in history (`reasoning_content` vs `.Thinking`), rendered equal in
Go and Jinja for every setting, between raw tags Ollama infers the `thinking` capability from."""

from __future__ import annotations

import re
import shutil

import pytest

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.application.ollama_template import check_template, derive_ollama_template
from hubship.application.ollama_tools import check_tools
from hubship.domain.chat_template import ChatMessage
from hubship.domain.template_check import REASONING_CONVERSATIONS, OllamaCase, TemplateTags
from hubship.domain.tool_check import REASONED_CALL, ollama_order, tool_cases
from tests.integration.test_template_families import profile

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
THINKING_BLOCK = re.compile(r"\{\{ if \.Thinking \}\}([^{]*)\{\{ \.Thinking \}\}([^{]*)\{\{ end \}\}")


@pytest.fixture(scope="module")
def qwen3(renderer, go):
    return derive_ollama_template(renderer, go, profile("qwen3"), allow_generic=False)


def _jinja(renderer, messages, think, tools=()):
    p = profile("qwen3")
    return renderer.render(p.template, p.tokens, messages, add_generation_prompt=True, continue_final=False, tools=tools, think=think)


def test_the_think_switch_renders_as_enable_thinking_for_each_setting(qwen3, renderer, go):
    messages = (ChatMessage("user", "Hi"),)
    unset, on, off = go.render(qwen3.template, [OllamaCase(messages, think=t) for t in (None, True, False)])
    assert off.text == _jinja(renderer, messages, False) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert unset.text == on.text == _jinja(renderer, messages, None) == _jinja(renderer, messages, True) != off.text
    assert any("proven with it unset, on and off" in n for n in qwen3.notes)


def test_reasoning_after_the_last_user_message_is_kept_and_older_is_dropped(qwen3, renderer, go):
    tools, loop = REASONED_CALL
    answered = REASONING_CONVERSATIONS["reasoning in an answered turn"]
    for think in (None, False):
        (with_call,) = go.render(qwen3.template, [OllamaCase(loop, tools=tools, think=think)])
        assert with_call.text == _jinja(renderer, ollama_order(loop), think, tools)
        assert "<think>\nI need the weather in Zürich first.\n</think>\n\n<tool_call>" in with_call.text
        (old,) = go.render(qwen3.template, [OllamaCase(answered, think=think)])
        assert old.text == _jinja(renderer, answered, think) and "no tools needed" not in old.text


def test_ollama_finds_the_thinking_tags_in_raw_text_around_thinking(qwen3, go):
    blocks = THINKING_BLOCK.findall(qwen3.template)
    assert blocks and {(o.strip(), c.strip()) for o, c in blocks} == {("<think>", "</think>")}
    assert go.tags(qwen3.template) == TemplateTags("<tool_call>", "<think>", "</think>")
    assert qwen3.capabilities == ("completion", "tools", "thinking")


def test_a_template_that_drops_the_reasoning_fails_the_proof(qwen3, renderer, go):
    p = profile("qwen3")
    dropped = THINKING_BLOCK.sub("", qwen3.template)
    report = check_template(renderer, go, p, dropped, qwen3.structure, (None,), (None, True, False), reasoning=True)
    assert report.status == "failed" and any(m.startswith("reasoning before a prefill") for m in report.mismatches)

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    tool_mismatches = check_tools(render, go, None, dropped, tool_cases(None, (None,), None, reasoning=True))
    assert any(m.startswith("tools: a call after reasoning") for m in tool_mismatches)


def test_a_template_without_thinking_gets_no_switch_and_no_capability(renderer, go):
    qwen25 = derive_ollama_template(renderer, go, profile("qwen2.5"), allow_generic=False)
    assert "thinking" not in qwen25.capabilities and ".Think" not in qwen25.template and ".Thinking" not in qwen25.template


def test_without_go_nothing_unproven_is_claimed(renderer, tmp_path):
    no_go = GoTemplateChecker(tmp_path, go=str(tmp_path / "no-go"))
    d = derive_ollama_template(renderer, no_go, profile("qwen3"), allow_generic=False)
    assert d.check.status == "skipped" and d.capabilities == ("completion",)
    assert ".Think" not in d.template and ".Tools" not in d.template
    assert any("the think switch are not translated (not proven: Go is not installed" in n for n in d.notes)
    assert any(n.startswith("tool calling is not available") and "not proven" in n for n in d.notes)
