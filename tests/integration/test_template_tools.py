"""Tool calling in the derived Ollama TEMPLATE, on real templates as the models ship them: the tools, the calls and
the tool results render byte-identical in Go (Ollama's data) and Jinja (transformers' tool format), except the key
order Ollama's map loses, which the derivation names; Ollama's tag rule finds the rendered calls."""

from __future__ import annotations

import re
import shutil

import pytest

from hubship.application.ollama_template import derive_ollama_template
from hubship.application.ollama_tools import check_tools
from hubship.domain.chat_template import ChatMessage, TemplateRejected, ToolCall
from hubship.domain.template_check import OllamaCase
from hubship.domain.tool_check import ARGUMENTS, CALL, SECOND, TOOL_CONVERSATIONS, WEATHER, ollama_order, parses_back, tool_cases
from tests.integration.test_template_families import FAMILIES
from tests.integration.test_template_families import profile as family_profile
from tests.support.template_collection import profile_for, templates_dir

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
# Qwen2.5: tools in the system turn, <tool_call> JSON; Qwen3: the same with thinking; Llama 3.1: tools in the first user
# turn as tojson(indent=4), one JSON call per message; Mistral-Nemo: [AVAILABLE_TOOLS] before the last user message,
# [TOOL_CALLS][{..., "id": ...}] with nine-character ids, results with their call_id, turns that alternate around
# tool exchanges, the system message in the last user turn; Devstral (Unsloth's, from llama.cpp's collection):
# [AVAILABLE_TOOLS] first, [TOOL_CALLS]name[ARGS]arguments, [TOOL_RESULTS].
SHAPES = {
    "qwen2.5": "<tool_call>",
    "qwen3": "<tool_call>",
    "llama-3.1": "{",
    "mistral-nemo": "[TOOL_CALLS][",
    "unsloth-mistral-Devstral-Small-2507": "[TOOL_CALLS]",
}


def profile(name):
    if name in FAMILIES:
        return family_profile(name)
    path = templates_dir() / f"{name}.jinja"
    assert path.is_file(), f"{path} is missing: run `make setup`"
    return profile_for(path.read_text(encoding="utf-8"))


def _render(renderer, p):
    return lambda messages, **mode: renderer.render(p.template, p.tokens, messages, **mode)


@pytest.fixture(scope="module")
def derived(renderer, go):
    return {name: derive_ollama_template(renderer, go, profile(name), allow_generic=False) for name in SHAPES}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_tool_conversations_render_equal_in_go_and_jinja(name, derived, renderer, go):
    d, p = derived[name], profile(name)
    expected = ("completion", "tools", "thinking") if name == "qwen3" else ("completion", "tools")
    assert d.capabilities == expected, d.notes
    assert any(f"Ollama finds the model's calls after the tag {SHAPES[name]!r}" in n for n in d.notes)
    cases = tool_cases(d.system, (None,))
    assert not check_tools(_render(renderer, p), go, p.runtime_bos, d.template, cases)
    one_call = next(c for c in cases if c.name == "tools: one call, result, answer, final user turn")
    (out,) = go.render(d.template, [one_call.ollama])
    # Python's JSON, keys sorted as Ollama's map gives them: nested object, list, `<`, `&` and non-ASCII as Jinja writes them
    assert '"city": "Zürich & <Genève>", "options": {"days": 3, "langs": ["fr", "de"], "note": "héllo wörld — 日本語 🤖"' in out.text
    assert '"tags": ["a", "b<c", 2.5, null], "unit": "celsius"}' in out.text
    assert '"description": "Search the web & return the top results <max 10>."' in out.text


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_key_order_ollama_loses_is_the_only_difference_and_is_named(name, derived, renderer, go):
    d, p = derived[name], profile(name)
    tools, messages = TOOL_CONVERSATIONS["tools: one call, result, answer, final user turn"]
    (out,) = go.render(d.template, [OllamaCase(messages, "", None, tools)])
    as_given = renderer.render(p.template, p.tokens, messages, add_generation_prompt=True, continue_final=False, tools=tools)
    sorted_keys = renderer.render(
        p.template, p.tokens, ollama_order(messages), add_generation_prompt=True, continue_final=False, tools=tools
    )
    bos = p.runtime_bos or ""
    assert out.text == sorted_keys.removeprefix(bos) != as_given.removeprefix(bos)
    assert '"unit": "celsius", "city": "Zürich & <Genève>"' in as_given  # the caller's order, which Go cannot know
    assert any("the arguments of get_weather come out in another order" in n for n in d.notes)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_a_template_without_its_tool_calls_block_fails_the_proof(name, derived, renderer, go):
    d, p = derived[name], profile(name)
    block = re.compile(r"\{\{- if \.ToolCalls \}\}.*?\{\{ end \}\}\{\{ end \}\}", re.S)
    assert len(block.findall(d.template)) == 1
    removed = block.sub("", d.template)
    mismatches = check_tools(_render(renderer, p), go, p.runtime_bos, removed, tool_cases(d.system, (None,)))
    assert any(m.startswith("tools: one call, result, answer, final user turn") for m in mismatches)


def test_one_call_per_message_is_refused_by_both_like_the_template(derived, go):
    """Llama 3.1's template raises on two calls in one message; the Go template fails with the same message."""
    tools, messages = TOOL_CONVERSATIONS["tools: two calls, two results"]
    (out,) = go.render(derived["llama-3.1"].template, [OllamaCase(messages, "", None, tools)])
    assert out.text is None and "This model only supports single tool-calls at once!" in (out.error or "")


def test_without_tools_the_template_refuses_tool_messages_and_renders_as_before(derived, go):
    _, messages = TOOL_CONVERSATIONS["tools: one call, result, answer, final user turn"]
    plain = (ChatMessage("user", "Hi"),)
    refused, fine = go.render(derived["qwen2.5"].template, [OllamaCase(messages), OllamaCase(plain)])
    assert refused.text is None and "send this model's tools with the request" in (refused.error or "")
    system = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    assert fine.text == system + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_ollama_tag_rule_finds_the_calls_only_after_the_tag():
    written = '<tool_call>\n{"name": "get_weather", "arguments": ' + ARGUMENTS + "}\n</tool_call>"
    assert parses_back(written, "<tool_call>", (CALL,))
    assert not parses_back(written.replace("<tool_call>", "<call>"), "<tool_call>", (CALL,))
    assert not parses_back(written, "<tool_call>", (ToolCall("get_weather", '{"city": "Paris"}'),))
    second = '<tool_call>\n{"name": "search_web", "arguments": {"query": "weather & news <today>"}}\n</tool_call>'
    assert parses_back(written + "\n" + second, "<tool_call>", (CALL, SECOND))
    assert not parses_back(written + "\n" + second, "<tool_call>", (SECOND, CALL))  # the next call is looked for after the first
    mistral = "[TOOL_CALLS]get_weather[CALL_ID]a1b2c3d4e[ARGS]" + ARGUMENTS  # the arguments object itself, no name in it
    assert parses_back(mistral, "[TOOL_CALLS]", (CALL,))
    glm = "<tool_call>get_weather\n<arg_key>unit</arg_key>\n<arg_value>celsius</arg_value>\n</tool_call>"
    assert not parses_back(glm, "<tool_call>", (ToolCall("get_weather", '{"unit": "celsius"}'),))  # no JSON object at all
    assert WEATHER in TOOL_CONVERSATIONS["tools: one tool"][0]


def test_mistral_nemo_keeps_its_call_ids_its_alternation_and_its_tools_before_the_last_user(derived, renderer, go):
    tools, messages = TOOL_CONVERSATIONS["tools: one call, result, answer, final user turn"]
    skipped = (*messages[:3], ChatMessage("user", "And tomorrow?"))  # a user turn right after a tool result
    fine, refused = go.render(
        derived["mistral-nemo"].template, [OllamaCase(messages, "", None, tools), OllamaCase(skipped, "", None, tools)]
    )
    assert '"id": "a1b2c3d4e"}]</s>[TOOL_RESULTS]{"content": {"temperature": 21, "unit": "°C"}, "call_id": "a1b2c3d4e"}' in fine.text
    assert fine.text.index("[/INST]") < fine.text.index("[AVAILABLE_TOOLS]") < fine.text.index("[INST]Thanks!")
    assert refused.text is None and "conversation roles must alternate" in (refused.error or "")
    p = profile("mistral-nemo")
    with pytest.raises(TemplateRejected, match="must alternate"):
        renderer.render(p.template, p.tokens, skipped, add_generation_prompt=True, continue_final=False, tools=tools)


def test_calls_ollama_would_not_parse_back_are_refused_though_they_render_equal(renderer, go):
    """GLM-4.6 writes each argument as <arg_key>k</arg_key><arg_value>v</arg_value>: the TEMPLATE renders it, but
    Ollama's parser looks for a JSON object after the tag, so the model's calls would never come back as calls."""
    d = derive_ollama_template(renderer, go, profile("GLM-4.6"), allow_generic=False)
    assert "tools" not in d.capabilities and ".Tools" not in d.template
    expected = (
        "the template writes calls one argument at a time, not as a JSON object, where Ollama's tool-call parser, which reads"
        " a JSON object after the tag '<tool_call>', would not find them"
    )
    assert any(expected in n for n in d.notes)


@pytest.mark.parametrize("name", ["ibm-granite-granite-3.3-2B-Instruct", "LFM2-8B-A1B"])
def test_a_template_that_drops_the_calls_is_refused_as_such(name, renderer, go):
    """Granite 3.3 and LFM2 list the tools but write no call of an assistant message: the model's calls live in its
    output alone, and a TEMPLATE would have none for Ollama to read back (Ollama 0.30+ renders them with llama.cpp)."""
    d = derive_ollama_template(renderer, go, profile(name), allow_generic=False)
    assert "tools" not in d.capabilities
    assert any(n.endswith("the template does not write the tool calls of an assistant message (it drops them)") for n in d.notes)
