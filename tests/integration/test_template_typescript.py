"""Tools written as TypeScript types (GigaChat 3 and 3.1: `type NAME = (_: {...}) => any;`; gpt-oss's and Apertus's
`render_typescript_type`) and a template that writes
only the first call of a message (`message.tool_calls[0]`): the TEMPLATE writes the same, proven on the tool
conversations, and a second call is dropped by both, not refused."""

from __future__ import annotations

import json
import shutil

import pytest

from hubship.application.ollama_template import derive_ollama_template
from hubship.application.ollama_tools import check_tools
from hubship.domain.chat_template import ChatMessage
from hubship.domain.template_check import OllamaCase
from hubship.domain.tool_check import BOOK, SECOND, WEATHER, tool_cases
from hubship.domain.tool_forms import RICH, apertus, harmony, typescript
from hubship.domain.tool_probes import probe_tool
from tests.integration.test_template_tool_only import collection_profile

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
GIGACHAT = ("GigaChat3-10B-A1.8B", "GigaChat3.1-10B-A1.8B")


@pytest.fixture(scope="module")
def derived(renderer, go):
    return {name: derive_ollama_template(renderer, go, collection_profile(name), allow_generic=False) for name in GIGACHAT}


def test_the_typescript_model_is_what_gigachat_writes_for_every_kind_of_parameter(renderer):
    p = collection_profile(GIGACHAT[0])
    for tool in (probe_tool(0), RICH, WEATHER, BOOK):
        text = renderer.render(
            p.template, p.tokens, [ChatMessage("user", "hi")], tools=(tool,), add_generation_prompt=True, continue_final=False
        )
        assert text.count(typescript(tool)) == 1, (tool, typescript(tool))
    assert typescript(WEATHER) == (
        "// Get the current weather in a city.\ntype get_weather = (_: {\n  // The city, e.g. Paris\n  city: string,\n"
        "  // Extra options\n  options?: {\n  },\n  // Labels to match\n  tags?: Array<any>,\n  // Temperature unit\n"
        '  unit?: "celsius" | "fahrenheit",\n}) => any;\n'
    )


@pytest.mark.parametrize("name", GIGACHAT)
def test_gigachat_tool_conversations_render_equal_and_a_second_call_is_dropped_by_both(name, derived, renderer, go):
    d, p = derived[name], collection_profile(name)
    assert "tools" in d.capabilities, d.notes
    cases = tool_cases(d.system, (None,))

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    assert not check_tools(render, go, p.runtime_bos, d.template, cases)
    two = next(c for c in cases if c.name.startswith("tools: two calls"))
    (out,) = go.render(d.template, [two.ollama])
    text = out.text or ""
    calls = text.split("type search_web")[-1]
    assert '"name": "get_weather"' in calls and f'"name": "{SECOND.name}"' not in calls, "the second call is dropped"


def test_a_template_that_writes_every_call_fails_the_proof_where_gigachat_drops_the_second(derived, renderer, go):
    d, p = derived[GIGACHAT[1]], collection_profile(GIGACHAT[1])
    every = (d.template or "").replace("slice .ToolCalls 0 1", ".ToolCalls")
    assert every != d.template
    two = [c for c in tool_cases(d.system, (None,)) if c.name.startswith("tools: two calls")]

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    assert check_tools(render, go, p.runtime_bos, every, two), "writing both calls differs from the template"


def test_a_nested_parameter_the_typescript_writer_cannot_write_fails_in_go_with_one_line(derived, go):
    d = derived[GIGACHAT[0]]
    nested = json.loads(WEATHER)
    nested["function"]["parameters"]["properties"]["options"]["properties"] = {"days": {"type": "integer"}}
    case = OllamaCase((ChatMessage("user", "hi"),), "", None, (json.dumps(nested),), None)
    (out,) = go.render(d.template or "", [case])
    assert out.text is None and "cannot write a tool parameter with anyOf, nested properties" in (out.error or ""), out


@pytest.mark.parametrize(("name", "model"), [("openai-gpt-oss-120b", harmony), ("Apertus-8B-Instruct", apertus)])
def test_gpt_oss_and_apertus_typescript_models_are_what_their_templates_write(name, model, renderer):
    p = collection_profile(name)
    for tool in (probe_tool(0), RICH, WEATHER, BOOK):
        text = renderer.render(
            p.template, p.tokens, [ChatMessage("user", "hi")], tools=(tool,), add_generation_prompt=True, continue_final=False
        )
        assert text.count(model(tool)) == 1, (tool, model(tool))
    assert harmony(BOOK).endswith('travel_class?: "economy" | "business",\n}) => any;')
    assert apertus(BOOK).endswith('travel_class?: "economy" | "business"\n}) => any;')


def test_apertus_tool_conversations_render_equal(renderer, go):
    p = collection_profile("Apertus-8B-Instruct")
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert "tools" in d.capabilities, d.notes

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    assert not check_tools(render, go, p.runtime_bos, d.template, tool_cases(d.system, (None,)))
