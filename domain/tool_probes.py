"""The tool probes: the tools, calls and kind orders chat_tools renders a template on.

Two more message kinds than the role probe's: `calls` (an assistant message that calls a tool, its content empty)
and `tool` (a tool result). Every name, id, argument and content is unique, so each can be found in a render.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import attrs

from hubship.domain.chat_template import ChatMessage, Observation, ToolCall, sentinel

LAST_USER = "user!"
"""The kind of the last user message, when a template writes something before it only (Mistral's tools)."""
MAX_TOOL_PROBE = 6


def probe_tool(i: int) -> str:
    """A tool definition in the usual order of OpenAI-style clients (what transformers' `get_json_schema` writes)."""
    parameter = {"type": "string", "description": f"HUBSHIPPARAMDESC{i}X"}
    function = {
        "name": f"hubshiptool{i}",
        "description": f"HUBSHIPTOOLDESC{i}X",
        "parameters": {"type": "object", "properties": {f"hubshipparam{i}": parameter}, "required": [f"hubshipparam{i}"]},
    }
    return json.dumps({"type": "function", "function": function})


def probe_call(i: int, k: int = 0) -> ToolCall:
    """The k-th call of message i: a unique name, id (nine letters and digits, as Mistral wants) and argument."""
    return ToolCall(f"hubshipfn{i}{k}", json.dumps({"hubshiparg": f"HUBSHIPARG{i}{k}X"}), f"hubcall{i}{k}")


def _allowed(a: str, b: str) -> bool:
    role = {"user": "user", "assistant": "assistant", "calls": "assistant", "tool": "tool"}
    if a == "calls":
        return b == "tool"
    if b == "tool":
        return a in ("calls", "tool")
    return role[a] != role[b]


def tool_sequences(max_length: int = MAX_TOOL_PROBE) -> list[tuple[str, ...]]:
    """Kind orders with tools: an optional leading system message, then a user message first; `calls` always
    answered by one or two `tool` results; no two messages of one role in a row otherwise (Ollama merges them);
    ending with a user message, an assistant prefill or a tool result."""
    found = []
    for length in range(1, max_length + 1):
        for lead in ((), ("system",)):
            for rest in itertools.product(("user", "assistant", "calls", "tool"), repeat=length - len(lead)):
                if not rest or rest[0] != "user" or rest[-1] == "calls" or ("calls" not in rest and len(rest) > 4):
                    continue
                if all(_allowed(a, b) for a, b in itertools.pairwise(rest)) and "tool/tool/tool" not in "/".join(rest):
                    found.append((*lead, *rest))
    return found


def probe_messages(kinds: Sequence[str]) -> list[ChatMessage]:
    out = []
    for i, kind in enumerate(kinds):
        if kind == "calls":
            out.append(ChatMessage("assistant", "", tool_calls=(probe_call(i),)))
        elif kind == "tool":
            calls = next(j for j in range(i - 1, -1, -1) if kinds[j] == "calls")
            answered = probe_call(calls, i - calls - 1)  # a second result gets an id of its own
            out.append(ChatMessage("tool", sentinel(i), tool_name=probe_call(calls).name, tool_call_id=answered.id))
        else:
            out.append(ChatMessage(kind, sentinel(i)))
    return out


def mark_last_user(obs: Observation) -> Observation:
    """The observation with its last user message of its own kind (LAST_USER)."""
    kinds = list(obs.roles)
    at = max((i for i, k in enumerate(kinds) if k == "user"), default=-1)
    if at >= 0:
        kinds[at] = LAST_USER
    return attrs.evolve(obs, roles=tuple(kinds))


def speakers_alternate(kinds: Sequence[str]) -> bool:
    """Whether the user and assistant turns, tool calls and results aside, alternate from a user turn."""
    speakers = [k for k in kinds if k in ("user", "assistant")]
    return all(k == ("user", "assistant")[n % 2] for n, k in enumerate(speakers))
