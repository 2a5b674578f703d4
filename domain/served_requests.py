"""A chat as llama-server receives it (its `/apply-template` and chat completion take the same body), from two clients:

**Ollama 0.30.0+**, where it renders with the GGUF's own chat template (ollama_runtime), modelled from Ollama's source
as read (`llm/llama_server.go`, `llamaServerChatRequest`, `llamaServerChatMessage`, `llamaServerChatToolCalls`,
`llamaServerChatTemplateKwargs`; `api/types.go`; not copied):
- each message as `role`, `tool_call_id` and `name` (a tool result's, when set), `tool_calls` and `content`; a
  message's reasoning (`thinking`) is not sent, so no reasoning reaches the template's history;
- each call as `id`, `index`, `type: function` and `function` with `name` and `arguments`, the arguments' JSON text
  as Go writes Ollama's ordered map of them (`llamaServerChatToolCalls`): the caller's key order at the top, the keys
  of every object inside sorted (Go decodes those as maps);
- `tools` as Ollama's `api.Tool` writes them: its members in the struct's order (`type`, `function`: `name`,
  `description`, `parameters`: `type`, `$defs`, `items`, `required`, `properties`; each property: `anyOf`, `type`,
  `items`, `description`, `enum`, `properties`, `required`), empty optional members and any other member dropped, and
  what it holds as `any` (`items`, `$defs`) written as a Go map: keys sorted;
- `chat_template_kwargs: {"enable_thinking": ...}` only when `think` is set; but Ollama sets it on itself when the
  request has none and the model has the `thinking` capability (`ChatHandler`, `GenerateHandler`: ollama PR 12533,
  October 2025), so llama-server decides it only for a model without that capability (`ollama_think`).

**An OpenAI-compatible client** (LM Studio's and llama-server's own users, `openai` SDKs): the messages as given, a
call's arguments as their JSON text, a message's reasoning as `reasoning_content` (llama-server reads it,
`common_chat_msgs_parse_oaicompat`), the tools as given, `chat_template_kwargs` when `think` is set.

The Jinja reference for either is the same conversation as the client hands it over (`native_messages` for Ollama),
the calls' arguments decoded; for a template that fails on decoded arguments (it joins them to a string, as
functionary v3.2 does), their text as llama-server gets it (`as_sent`): llama.cpp decodes the arguments only for a
template its probe finds taking objects (`common/chat.cpp`, `func_args_not_string`), and passes the text to others.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from hubship.domain.chat_template import ChatMessage, ToolCall
from hubship.domain.template_check import CheckCase
from hubship.domain.tool_check import go_map, tool_cases

_PROPERTY = ("anyOf", "type", "items", "description", "enum", "properties", "required")


def _property(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _PROPERTY:
        item = value.get(key)
        if item in (None, "", [], {}):
            continue
        if key == "properties":
            item = {name: _property(p) for name, p in item.items()}
        elif key == "anyOf":
            item = [_property(p) for p in item]
        elif key == "items":
            item = go_map(item)
        elif key == "type" and isinstance(item, list) and len(item) == 1:
            item = item[0]  # PropertyType writes a list of one as its string
        out[key] = item
    return out


def ollama_tool(tool: str) -> str:
    """A tool definition (JSON text) as Ollama's `api.Tool` writes it (see the module docstring)."""
    data = json.loads(tool)
    function, parameters = data.get("function") or {}, data.get("function", {}).get("parameters") or {}
    params: dict[str, Any] = {"type": parameters.get("type", "")}
    params.update({k: go_map(parameters[k]) for k in ("$defs", "items", "required") if parameters.get(k)})
    properties = parameters.get("properties")
    params["properties"] = None if properties is None else {n: _property(p) for n, p in properties.items()}
    written: dict[str, Any] = {"name": function.get("name", "")}
    if function.get("description"):
        written["description"] = function["description"]
    written["parameters"] = params
    return json.dumps({"type": data.get("type", ""), "function": written}, ensure_ascii=False)


def ollama_think(think: bool | None, thinking: bool) -> bool | None:
    """The `think` a template gets from Ollama for a request's `think`: on when unset and the model has the `thinking`
    capability (see the module docstring)."""
    return True if think is None and thinking else think


def ollama_settings(switch: bool, thinking: bool) -> tuple[bool | None, ...]:
    """The think values a template gets from Ollama for requests with `think` unset, on and off (`switch`: they are
    told apart, as the template has the switch or llama-server gets them; else one render stands for all), for a model
    with the `thinking` capability or not."""
    return tuple(dict.fromkeys(ollama_think(t, thinking) for t in ((None, True, False) if switch else (None,))))


def ollama_tool_cases(system: str | None, switch: bool, thinking: bool) -> list[CheckCase]:
    """The tool conversations (tool_check) with each think value a template gets from Ollama (ollama_settings)."""
    return [c for think in ollama_settings(switch, thinking) for c in tool_cases(system, (None,), think)]


def _held(text: str) -> dict[str, Any]:
    """A call's arguments (a JSON object's text) as Ollama holds them (`api.ToolCallFunctionArguments`): an ordered map
    at the top, so those keys keep the caller's order, whose values Go decodes as `any`, so every object inside is a Go
    map and writes its keys sorted (what it holds as `any` elsewhere, a tool's `items` and `$defs`, alike)."""
    return {k: go_map(v) for k, v in json.loads(text).items()}


def ollama_arguments(text: str) -> str:
    """A call's arguments as Ollama holds them (_held), as JSON text."""
    return json.dumps(_held(text), ensure_ascii=False)


def native_messages(messages: Sequence[ChatMessage], system: str = "") -> tuple[ChatMessage, ...]:
    """The conversation as the template sees it on this path: the Modelfile's SYSTEM first when the chat does not open
    with a system message, no reasoning, and each call's arguments as Ollama holds them (ollama_arguments)."""
    injected = (ChatMessage("system", system),) if system and (not messages or messages[0].role != "system") else ()
    kept = tuple(
        ChatMessage(
            m.role,
            m.content,
            tuple(attrs.evolve(c, arguments=ollama_arguments(c.arguments)) for c in m.tool_calls),
            "",
            m.tool_name,
            m.tool_call_id,
        )
        for m in messages
    )
    return (*injected, *kept)


def go_json(value: object) -> str:
    """JSON text as Go's `json.Marshal` writes it: compact, `<`, `>`, `&`, U+2028 and U+2029 escaped, other text as is."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.translate({ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})


def sent_arguments(call: ToolCall, ollama: bool) -> str:
    """The JSON text a call's arguments reach llama-server as: Go's, from Ollama; the caller's, from a client."""
    return go_json(_held(call.arguments)) if ollama else call.arguments


def as_sent(messages: Sequence[ChatMessage], ollama: bool) -> tuple[ChatMessage, ...]:
    """`messages` with each call's arguments handed to Jinja as the text llama-server gets (`ToolCall.as_text`): what
    llama.cpp gives a template that does not take decoded arguments (`func_args_not_string` only where it does)."""
    return tuple(
        attrs.evolve(m, tool_calls=tuple(attrs.evolve(c, arguments=sent_arguments(c, ollama), as_text=True) for c in m.tool_calls))
        for m in messages
    )


def _message(message: ChatMessage, ollama: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.tool_call_id:
        out["tool_call_id"] = message.tool_call_id
    if message.tool_name:
        out["name"] = message.tool_name
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "index": 0,
                "type": "function",
                "function": {"name": call.name, "arguments": sent_arguments(call, ollama)},
            }
            for call in message.tool_calls
        ]
    if message.thinking and not ollama:
        out["reasoning_content"] = message.thinking
    out["content"] = message.content
    return out


def served_request(
    messages: Sequence[ChatMessage], tools: Sequence[str] = (), think: bool | None = None, *, ollama: bool = True
) -> dict[str, Any]:
    """The body llama-server gets for `messages` with `tools` (JSON texts) and `think`: from Ollama 0.30.0+ (`messages`
    as native_messages gives them), or, `ollama` False, from an OpenAI-compatible client (see the module docstring)."""
    body: dict[str, Any] = {"messages": [_message(m, ollama) for m in messages]}
    if tools:
        body["tools"] = [json.loads(ollama_tool(t) if ollama else t) for t in tools]
    if think is not None:
        body["chat_template_kwargs"] = {"enable_thinking": think}
    return body
