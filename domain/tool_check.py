"""The tool conversations of the render check, and the two things Ollama does with tools that Jinja does not.

Each conversation is given to Jinja as transformers' `apply_chat_template(messages, tools=...)` takes it and to the
Go template as Ollama's API hands it over. Ollama keeps a tool call's arguments (and a tool's parameter properties)
as a Go map, so the caller's key order is gone before the template runs: the proof compares Go's render with the
Jinja render of the same conversation with its keys sorted (`ollama_order`), and `reordered` names the arguments whose
render that changes. The arguments cover keys out of alphabetical order, a nested object, a list, `<` and `&`, and
non-ASCII text.

Ollama finds tool calls in the model's output by a tag: the text that opens the TEMPLATE's `.ToolCalls` block, up
to a `{` (`{` itself when there is none). `parses_back` says whether a rendered call would be found by that rule:
the tag, then each call's name, then a JSON object that is its arguments (or holds them).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from hubship.domain.chat_dates import Clock
from hubship.domain.chat_template import ChatMessage, ToolCall
from hubship.domain.template_check import CheckCase, OllamaCase


def _tool(name: str, description: str, properties: dict[str, dict[str, object]], required: list[str]) -> str:
    parameters = {"type": "object", "properties": properties, "required": required}
    return json.dumps({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}})


WEATHER = _tool(
    "get_weather",
    "Get the current weather in a city.",
    {
        "city": {"type": "string", "description": "The city, e.g. Paris"},
        "options": {"type": "object", "description": "Extra options"},
        "unit": {"type": "string", "description": "Temperature unit", "enum": ["celsius", "fahrenheit"]},
    },
    ["city"],
)
SEARCH = _tool(
    "search_web",
    "Search the web & return the top results <max 10>.",
    {"query": {"type": "string", "description": "Search terms"}},
    ["query"],
)
ARGUMENTS = json.dumps(
    {
        "unit": "celsius",
        "city": "Zürich & <Genève>",
        "options": {"verbose": True, "days": 3, "langs": ["fr", "de"], "note": "héllo wörld — 日本語 🤖"},
        "tags": ["a", "b<c", 2.5, None],
    },
    ensure_ascii=False,
)
CALL = ToolCall("get_weather", ARGUMENTS, "a1b2c3d4e")  # ids of nine letters and digits, as Mistral's templates want
SECOND = ToolCall("search_web", json.dumps({"query": "weather & news <today>"}), "f5g6h7i8j")
RESULT = '{"temperature": 21, "unit": "°C"}'
SECOND_RESULT = "Sunny & mild, 21 °C <source: meteo>"

_ASK = ChatMessage("user", "What's the weather in Zürich?")
_ANSWER = ChatMessage("tool", RESULT, tool_name=CALL.name, tool_call_id=CALL.id)
_SECOND_ANSWER = ChatMessage("tool", SECOND_RESULT, tool_name=SECOND.name, tool_call_id=SECOND.id)
TOOL_CONVERSATIONS: dict[str, tuple[tuple[str, ...], tuple[ChatMessage, ...]]] = {
    "tools: one tool": ((WEATHER,), (_ASK,)),
    "tools: two tools, system": ((WEATHER, SEARCH), (ChatMessage("system", "You are a weather bot."), _ASK)),
    "tools: one call, result, answer, final user turn": (
        (WEATHER, SEARCH),
        (
            _ASK,
            ChatMessage("assistant", "", tool_calls=(CALL,)),
            _ANSWER,
            ChatMessage("assistant", "It is 21 °C."),
            ChatMessage("user", "Thanks!"),
        ),
    ),
    "tools: two calls, two results": (
        (WEATHER, SEARCH),
        (_ASK, ChatMessage("assistant", "", tool_calls=(CALL, SECOND)), _ANSWER, _SECOND_ANSWER),
    ),
    "tools: a call beside a content, system": (
        (WEATHER,),
        (ChatMessage("system", "Be brief."), _ASK, ChatMessage("assistant", "Let me check.", tool_calls=(CALL,)), _ANSWER),
    ),
}


_REASONED = ChatMessage("assistant", "", tool_calls=(CALL,), thinking="I need the weather in Zürich first.")
REASONED_CALL = ((WEATHER,), (_ASK, _REASONED, _ANSWER))
"""A call after reasoning, then its result: the turn of a tool loop whose reasoning templates keep."""


def _sorted(value: object) -> object:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def sort_keys(text: str) -> str:
    """A JSON text with its object keys sorted at every depth (what a Go map gives back)."""
    return json.dumps(_sorted(json.loads(text)), ensure_ascii=False)


def ollama_order(messages: Sequence[ChatMessage]) -> tuple[ChatMessage, ...]:
    """The messages with every call's argument keys sorted, as Ollama's TEMPLATE receives them."""
    out = []
    for m in messages:
        calls = tuple(ToolCall(c.name, sort_keys(c.arguments), c.id) for c in m.tool_calls)
        out.append(ChatMessage(m.role, m.content, calls, m.thinking, m.tool_name, m.tool_call_id))
    return tuple(out)


def reordered(messages: Sequence[ChatMessage]) -> list[str]:
    """The calls whose arguments' keys are not in alphabetical order (Ollama writes them sorted)."""
    return [
        c.name for m in messages for c in m.tool_calls if sort_keys(c.arguments) != json.dumps(json.loads(c.arguments), ensure_ascii=False)
    ]


def ollama_tag(opening: str) -> str:
    """The tag Ollama looks for: the opening text of the `.ToolCalls` block up to a `{`, trimmed; `{` when empty."""
    return opening.replace("\r\n", "\n").partition("{")[0].strip() or "{"


def _objects(text: str) -> list[object]:
    decoder, found = json.JSONDecoder(), []
    for at, ch in enumerate(text):
        if ch in "{[":
            try:
                found.append(decoder.raw_decode(text, at)[0])
            except ValueError:
                continue
    return found


def parses_back(output: str, tag: str, calls: Sequence[ToolCall]) -> bool:
    """Whether the model output `output` (a rendered assistant turn) shows every call after `tag`, as Ollama's parser
    needs: the tag, then the call's name, then a JSON object equal to its arguments or holding them."""
    at = output.find(tag)
    if at < 0:
        return False
    for call in calls:
        name = output.find(call.name, at)
        if name < 0:
            return False
        args = json.loads(call.arguments)
        objects = _objects(output[at:])
        if not any(o == args or (isinstance(o, dict) and args in o.values()) for o in objects):
            return False
    return True


def tool_cases(
    default_system: str | None, days: Sequence[datetime.date | None] = (None,), think: bool | None = None, reasoning: bool = False
) -> list[CheckCase]:
    """The tool conversations (and the call after reasoning when `reasoning`), each on every day and also with the
    Modelfile's SYSTEM injected when it has one, with the think switch `think`; Jinja gets them with the argument keys
    sorted (see the module docstring)."""
    conversations = {**TOOL_CONVERSATIONS, **({"tools: a call after reasoning": REASONED_CALL} if reasoning else {})}
    switch = "" if think is None else f" (think {'on' if think else 'off'})"
    cases = []
    for day in days:
        clock, date, on = (Clock(day), day.isoformat(), f" on {day.isoformat()}") if day else (None, None, "")
        for name, (tools, messages) in conversations.items():
            cases.append(CheckCase(name + switch + on, ollama_order(messages), OllamaCase(messages, "", date, tools, think), False, clock))
            if default_system and messages[0].role != "system":
                injected = OllamaCase(messages, default_system, date, tools, think)
                cases.append(CheckCase(f"{name} (Modelfile SYSTEM){switch}{on}", ollama_order(messages), injected, False, clock))
    return cases
