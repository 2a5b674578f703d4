"""Templates that fail without tools (Hermes 2 Pro, Hermes 3, Command R+ tool use: `for tool in tools` on None) publish:
a request without tools gets what the chat template writes for an empty list of tools, and the proof renders it so;
and tools written as one indented list (`tools | tojson(indent=4)`, Granite 3.3) are translated."""

from __future__ import annotations

import json
import shutil

import attrs
import pytest

from hubship.application.chat_inputs import EMPTY, NOTES
from hubship.application.ollama_template import NO_SYSTEM, derive_ollama_template
from hubship.application.ollama_tools import check_tools
from hubship.domain.chat_template import EMPTY_TOOLS, ChatMessage, TemplateRejected
from hubship.domain.template_check import OllamaCase
from hubship.domain.tool_check import tool_cases
from tests.integration.test_template_families import profile as family_profile
from tests.support.template_collection import profile_for, templates_dir

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
TOOL_ONLY = (
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
    "CohereForAI-c4ai-command-r-plus-tool_use",
)
CHAT = (ChatMessage("user", "Hi & <b>"), ChatMessage("assistant", "Hello!"), ChatMessage("user", "Bye"))


def collection_profile(name):
    path = templates_dir() / f"{name}.jinja"
    assert path.is_file(), f"{path} is missing: run `make setup`"
    return profile_for(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", TOOL_ONLY)
def test_a_template_that_fails_without_tools_publishes_with_an_empty_tool_list(name, renderer, go):
    p = collection_profile(name)
    with pytest.raises(TemplateRejected):
        renderer.render(p.template, p.tokens, CHAT, add_generation_prompt=True, continue_final=False)
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.check.status == "passed" and d.structure is not None and d.structure.inputs == EMPTY
    assert NOTES[EMPTY] in d.notes
    empty = renderer.render(p.template, p.tokens, CHAT, add_generation_prompt=True, continue_final=False, tools=EMPTY_TOOLS)
    (out,) = go.render(d.template, [OllamaCase(CHAT, d.system or "")])
    assert out.text == empty.removeprefix(p.runtime_bos or "")


def test_empty_tools_reach_the_template_as_an_empty_list_and_no_tools_as_none(renderer):
    template = "{{ tools is none }} {{ tools | length if tools is not none else '-' }}"
    chat = [ChatMessage("user", "x")]
    assert renderer.render(template, {}, chat, add_generation_prompt=False, continue_final=False) == "True -"
    assert renderer.render(template, {}, chat, add_generation_prompt=False, continue_final=False, tools=EMPTY_TOOLS) == "False 0"


def test_tools_written_as_one_indented_list_are_translated(renderer, go):
    p = family_profile("qwen2.5")
    loop = '{%- for tool in tools %}\n        {{- "\\n" }}\n        {{- tool | tojson }}\n    {%- endfor %}'
    assert loop in p.template
    listed = p.template.replace(loop, '{{- "\\n" + (tools | tojson(indent=4)) }}')
    p = attrs.evolve(p, template=listed)
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools"), d.notes

    def render(messages, **mode):
        return renderer.render(listed, p.tokens, messages, **mode)

    assert not check_tools(render, go, p.runtime_bos, d.template, tool_cases(d.system, (None,)))


@pytest.mark.parametrize("name", TOOL_ONLY[:2])
def test_hermes_tools_are_written_as_their_python_signatures(name, renderer, go):
    """Hermes 2 Pro and 3 write each tool with a Python signature (`name(city: str, ...) - description`): proven on every
    kind of parameter (int, float, bool, list, dict, enum, a list of types), and a type name the template's macro does
    not know fails in Go as it fails in Jinja."""
    p = collection_profile(name)
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools"), d.notes

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    cases = tool_cases(d.system, (None,))
    assert not check_tools(render, go, p.runtime_bos, d.template, cases)
    every = next(c for c in cases if c.name == "tools: a tool with every kind of parameter")
    (out,) = go.render(d.template, [every.ollama])
    signature = "book_trip(adults: int, budget: float, cities: list[Union[]], flexible: bool, note: Union[str,int]"
    assert signature in (out.text or ""), out
    odd = json.dumps(
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "d",
                "parameters": {"type": "object", "properties": {"x": {"type": "date"}}, "required": []},
            },
        }
    )
    (failed,) = go.render(d.template, [OllamaCase(CHAT, "", None, (odd,))])
    assert failed.text is None and "not a JSON Schema type it knows" in (failed.error or "")
    with pytest.raises(TemplateRejected):
        renderer.render(p.template, p.tokens, CHAT, add_generation_prompt=True, continue_final=False, tools=(odd,))


def test_functionary_tools_are_written_as_html_escaped_json(renderer, go):
    """functionary v3.1 HTML-escapes its tool lines (a Markup plus a str escapes the str): Go's `html` gives the same
    entities, proven on every kind of parameter with `<`, `&` and quotes in the descriptions."""
    p = collection_profile("meetkai-functionary-medium-v3.1")
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools"), d.notes

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    cases = tool_cases(d.system, (None,))
    assert not check_tools(render, go, p.runtime_bos, d.template, cases)
    (out,) = go.render(d.template, [next(c for c in cases if c.name == "tools: two tools, system").ollama])
    assert "{&#34;name&#34;: &#34;get_weather&#34;, &#34;description&#34;: &#34;" in (out.text or ""), out
    assert "&#34;Search the web &amp; return the top results &lt;max 10&gt;.&#34;" in (out.text or ""), out


def test_a_default_system_prompt_dropped_with_tools_is_written_by_the_template_not_the_modelfile(renderer, go):
    """Granite 4.0 writes its default system prompt without tools and another one with tools: an injected Modelfile
    SYSTEM would be a system message it keeps, so the Modelfile has none and the TEMPLATE writes the default itself."""
    p = collection_profile("ibm-granite-granite-4.0")
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools") and d.system is None and NO_SYSTEM in d.notes, d.notes
    assert d.structure is not None and d.structure.default_system
    (out,) = go.render(d.template, [OllamaCase(CHAT, "")])
    expected = renderer.render(p.template, p.tokens, CHAT, add_generation_prompt=True, continue_final=False)
    assert d.structure.default_system in (out.text or "") and out.text == expected.removeprefix(p.runtime_bos or "")

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    assert not check_tools(render, go, p.runtime_bos, d.template, tool_cases(None, (None,)))
