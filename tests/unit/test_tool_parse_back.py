"""Whether Ollama's generic tool-call parser (`tools/tools.go`, as read) gives a rendered call back
(domain.tool_check.parses_back): the tool found first, and the arguments `findObject` finds."""

from __future__ import annotations

import json

from hubship.domain.chat_template import ToolCall
from hubship.domain.tool_check import offered_names, parses_back

WEATHER = ToolCall("get_weather", json.dumps({"city": "Paris"}))
SEARCH = ToolCall("search_web", json.dumps({"query": "get_weather"}))
OFFERED = ["get_weather", "search_web"]


def test_a_call_is_read_back_by_its_name_and_arguments_wrapped_or_bare() -> None:
    assert parses_back('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}', "<tool_call>", (WEATHER,), OFFERED)
    assert parses_back('<tool_call>{"name": "get_weather", "parameters": "{\\"city\\": \\"Paris\\"}"}', "<tool_call>", (WEATHER,))
    assert parses_back('[TOOL_CALLS]get_weather{"city": "Paris"}', "[TOOL_CALLS]", (WEATHER,), OFFERED)
    assert parses_back('<call>{"get_weather": {"city": "Paris"}}', "<call>", (WEATHER,), OFFERED)  # under the tool's name
    assert not parses_back('{"name": "get_weather", "arguments": {"city": "Paris"}}', "<tool_call>", (WEATHER,))  # no tag


def test_the_offered_tool_named_first_is_the_one_called() -> None:
    written = '<tool_call>{"name": "search_web", "arguments": {"query": "get_weather"}}'
    assert parses_back(written, "<tool_call>", (SEARCH,), ["search_web"])
    # with both offered, the arguments come first in this layout and name the other tool: Ollama calls get_weather
    assert not parses_back('<tool_call>{"arguments": {"query": "get_weather"}, "name": "search_web"}', "<tool_call>", (SEARCH,), OFFERED)


def test_arguments_are_searched_as_findobject_searches_them() -> None:
    person = ToolCall("get_weather", json.dumps({"person": {"name": "Bob"}}))
    # bare arguments holding an object with a `name`: Ollama takes that object for the call and finds no arguments in it
    assert not parses_back('<c>get_weather{"person": {"name": "Bob"}}', "<c>", (person,), OFFERED)
    # two members holding different calls: Go's random map order decides, so it is not counted as read back
    twice = '<c>get_weather{"a": {"name": "x", "arguments": {"k": 1}}, "b": [{"name": "y", "arguments": {"k": 2}}]}'
    assert not parses_back(twice, "<c>", (ToolCall("get_weather", json.dumps({"k": 1})),), OFFERED)
    same = '<c>get_weather{"a": {"name": "x", "arguments": {"k": 1}}, "b": [{"name": "y", "arguments": {"k": 1}}]}'
    assert parses_back(same, "<c>", (ToolCall("get_weather", json.dumps({"k": 1})),), OFFERED)


def test_offered_names_read_tools_and_lists_of_tools() -> None:
    tool = {"type": "function", "function": {"name": "a"}}
    assert offered_names([json.dumps(tool), json.dumps([{"type": "function", "function": {"name": "b"}}]), "[]"]) == ["a", "b"]
