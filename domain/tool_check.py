"""The tool conversations of the render check, and the two things Ollama does with tools that Jinja does not.

Each conversation is given to Jinja as transformers' `apply_chat_template(messages, tools=...)` takes it and to the
Go template as Ollama's API hands it over. Ollama keeps a tool call's arguments (and a tool's parameter properties)
as a Go map, so the caller's key order is gone before the template runs: the proof compares Go's render with the
Jinja render of the same conversation with its keys sorted (`ollama_order`), and `reordered` names the arguments whose
render that changes. The arguments cover keys out of alphabetical order, a nested object, a list, `<` and `&`, and
non-ASCII text.

Ollama finds tool calls in the model's output by a tag: the text that opens the TEMPLATE's `.ToolCalls` block, up
to a `{` (`{` itself when there is none). `parses_back` says whether a rendered call would be found by that rule:
the tag, then the first offered tool's name, which must be the call's, then a JSON object that is its arguments (or
holds them, as Ollama's `findObject` searches it).
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
        "tags": {"type": "array", "description": "Labels to match"},
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
BOOK = _tool(
    "book_trip",
    "Book a trip: every kind of parameter.",
    {
        "adults": {"type": "integer", "description": "How many adults"},
        "budget": {"type": "number", "description": "The budget in euros"},
        "cities": {"type": "array", "description": "The cities to visit", "items": {"type": "string"}},
        "flexible": {"type": "boolean", "description": "Whether the dates may move"},
        "note": {"type": ["string", "integer"], "description": "A note or a booking number"},
        "preferences": {"type": "object", "description": "Seat, meal..."},
        "travel_class": {"type": "string", "description": "The class", "enum": ["economy", "business"]},
    },
    ["adults", "cities"],
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
ONE_CALL = "tools: one call, result, answer, final user turn"
_ANSWER = ChatMessage("tool", RESULT, tool_name=CALL.name, tool_call_id=CALL.id)
_SECOND_ANSWER = ChatMessage("tool", SECOND_RESULT, tool_name=SECOND.name, tool_call_id=SECOND.id)
TOOL_CONVERSATIONS: dict[str, tuple[tuple[str, ...], tuple[ChatMessage, ...]]] = {
    "tools: one tool": ((WEATHER,), (_ASK,)),
    "tools: a tool with every kind of parameter": ((BOOK,), (ChatMessage("user", "Book me a trip to Rome."),)),
    "tools: two tools, system": ((WEATHER, SEARCH), (ChatMessage("system", "You are a weather bot."), _ASK)),
    ONE_CALL: (
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


def go_map(value: object) -> object:
    """A JSON value as a Go map writes it back: every object's keys sorted, at every depth."""
    if isinstance(value, dict):
        return {k: go_map(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [go_map(v) for v in value]
    return value


def sort_keys(text: str) -> str:
    """A JSON text with its object keys sorted at every depth (what a Go map gives back)."""
    return json.dumps(go_map(json.loads(text)), ensure_ascii=False)


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


def _first_object(text: str) -> tuple[dict | None, int]:
    """The first top-level JSON object of `text` (braces counted outside strings, as Ollama's parser scans) and where it
    ends; (None, 0) when there is none."""
    depth, start, in_string, escaped = 0, -1, False, False
    for i, ch in enumerate(text):
        if escaped or ch == "\\":
            escaped = not escaped and ch == "\\"
            continue
        if ch == '"':
            in_string = not in_string
        elif not in_string and ch == "{":
            start, depth = (i if depth == 0 else start), depth + 1
        elif not in_string and ch == "}" and depth:
            depth -= 1
            if depth == 0:
                try:
                    found = json.loads(text[start : i + 1])
                except ValueError:
                    continue
                return (found, i + 1) if isinstance(found, dict) else (None, 0)
    return None, 0


def _held(obj: dict, key: str) -> dict | None:
    """`findMap`: the object under `key`, or a JSON object's text there decoded."""
    value = obj.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


_UNSETTLED = object()
"""findObject's answer where Go's random map order decides it: more than one member holds a different match."""


def _find_object(obj: dict, name: str) -> tuple[bool, object]:
    """`findObject`: (found, the arguments). An object with `name` holds its `arguments` or `parameters` (None when
    neither: Ollama then gives no call); else the object under the function's name; else the first match in a member
    (an object, or a list's objects in order). Go ranges over the members in random order, so where two members hold
    different matches the answer is _UNSETTLED, which hubship counts as not read back."""
    if "name" in obj:
        return True, _held(obj, "arguments") or _held(obj, "parameters")
    held = _held(obj, name)
    if held is not None:
        return True, held
    matches = []
    for value in obj.values():
        children = [value] if isinstance(value, dict) else [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []
        found = next(((True, args) for child in children for ok, args in [_find_object(child, name)] if ok), None)
        if found is not None:
            matches.append(found[1])
    if not matches:
        return False, None
    return True, matches[0] if all(m == matches[0] for m in matches) else _UNSETTLED


def _find_tool(text: str, names: Sequence[str]) -> tuple[str, int]:
    """`findTool`: the offered tool whose name occurs first in `text` (the longer on a tie) and where its name ends;
    ("", -1) when none does."""
    found = [(at, -len(n), n) for n in names if (at := text.find(n)) >= 0]
    if not found:
        return "", -1
    at, _, name = min(found)
    return name, at + len(name)


def offered_names(tools: Sequence[str]) -> list[str]:
    """The function names of a request's tools (JSON texts, each a tool or a list of tools)."""
    loaded = [json.loads(t) for t in tools]
    return [x["function"]["name"] for item in loaded for x in (item if isinstance(item, list) else [item])]


def parses_back(output: str, tag: str, calls: Sequence[ToolCall], offered: Sequence[str] = ()) -> bool:
    """Whether the model output `output` (a rendered assistant turn) gives back every call by Ollama's generic rule
    (`tools/tools.go`, `parseToolCall`, as read; `offered` the names of the tools the request offers, the calls' own
    when not given): from the tag on, the offered tool whose name comes first must be the call's; then the first JSON
    object, searched as `findArguments` does (the object itself where nothing in it matches), must give its arguments;
    the next call is looked for after both."""
    at = output.find(tag)
    if at < 0:
        return False
    names = tuple(offered) or tuple(c.name for c in calls)
    rest = output[at:]
    for call in calls:
        name, name_end = _find_tool(rest, names)
        obj, end = _first_object(rest)
        if name != call.name or obj is None:
            return False
        found, args = _find_object(obj, call.name)
        if (args if found else obj) != json.loads(call.arguments):
            return False
        rest = rest[max(end, name_end) :]
    return True


def _non_ascii(value: object, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_ascii(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [p for k, v in enumerate(value) for p in _non_ascii(v, f"{path}[{k}]")]
    return [path] if isinstance(value, str) and not value.isascii() else []


def escaped_arguments(jinja_text: str, call: ToolCall) -> str | None:
    """Why no Go construct writes `call`'s arguments as the template does, when it writes them as
    `tojson(ensure_ascii=True)` (non-ASCII as `\\u` escapes: Go's `%+q` escapes as JSON does up to U+FFFF only, and
    writes `\\U0001f916` where JSON writes a surrogate pair); None when it does not."""
    arguments = json.loads(sort_keys(call.arguments))
    if json.dumps(arguments, ensure_ascii=True) not in jinja_text or json.dumps(arguments, ensure_ascii=False) in jinja_text:
        return None
    return (
        f"the template writes non-ASCII characters in JSON as \\u escapes (tojson(ensure_ascii=True)), which Go's escapes"
        f" match only up to U+FFFF: the arguments of {call.name} that differ are {', '.join(_non_ascii(arguments))}"
    )


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
