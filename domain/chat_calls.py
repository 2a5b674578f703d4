"""How a template writes one tool call, and where it writes a tool result's call id (for chat_tools).

A call is written as its pieces, the function's name, its id (when the template writes ids: Mistral, Solar) and its
arguments (`tojson`), in some order with fixed text between them: the *layout*. In a probe render, the span from a
message's first piece to its last is cut out (it becomes the message's sentinel, its "content"); the layout and the
text between two calls must be the same everywhere. A tool result's call id is written before its content (Mistral
Small: `[TOOL_RESULTS]id[TOOL_CONTENT]...`) or after it (Mistral Nemo: `..., "call_id": "id"}`): it is marked in the
glue as the current or the previous message's id.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence

import attrs

from hubship.domain.chat_template import ChatMessage, TemplateNotDerivable, ToolCall, sentinel

RESULT_ID = "\x00HUBSHIPRESULTID\x00"
"""The id of the tool result whose content follows (in the glue before a tool message)."""
PREVIOUS_RESULT_ID = "\x00HUBSHIPPREVIOUSRESULTID\x00"
"""The id of the tool result whose content precedes (in the glue after a tool message)."""
_SENTINEL = re.compile(r"HUBSHIPMSG\d+X")


@attrs.frozen
class CallLayout:
    """`pieces` in the order written ("name", "id", "args"); `seps` the text between consecutive pieces."""

    pieces: tuple[str, ...]
    seps: tuple[str, ...]


def tojson(value: object, indent: int | None = None) -> str:
    """transformers' `tojson` filter (json.dumps, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _pieces(text: str, call: ToolCall, start: int, stop: int) -> list[tuple[int, str, int]]:
    """(position, piece, length) of the call's pieces in text[start:stop], in order."""
    found = []
    for piece, value in (("name", call.name), ("id", call.id), ("args", tojson(json.loads(call.arguments)))):
        at = text.find(value, start, stop) if value else -1
        if at >= 0:
            found.append((at, piece, len(value)))
        elif piece != "id":
            raise TemplateNotDerivable("the template writes tool calls other than by name and tojson of their arguments")
    return sorted(found)


def cut_calls(text: str, calls: Sequence[ToolCall], mark: str, start: int = 0) -> tuple[str, CallLayout, list[str]]:
    """`text` with the span of the calls (written from `start` on) replaced by `mark`, their layout, and the texts
    between two calls; raises TemplateNotDerivable when they are not written one after the other with one layout."""
    cursor, spans, layouts = start, [], set()
    for k, call in enumerate(calls):
        nxt = text.find(calls[k + 1].name, cursor) if k + 1 < len(calls) else -1
        following = _SENTINEL.search(text, cursor)
        stop = nxt if nxt >= 0 else following.start() if following else len(text)
        found = _pieces(text, call, cursor, stop)
        seps = tuple(text[a + n : b] for (a, _, n), (b, _, _) in itertools.pairwise(found))
        layouts.add(CallLayout(tuple(p for _, p, _ in found), seps))
        spans.append((found[0][0], found[-1][0] + found[-1][2]))
        cursor = spans[-1][1]
    if len(layouts) != 1:
        raise TemplateNotDerivable("the template writes a second tool call differently from the first")
    between = [text[spans[k][1] : spans[k + 1][0]] for k in range(len(spans) - 1)]
    return text[: spans[0][0]] + mark + text[spans[-1][1] :], layouts.pop(), between


def mark_result_ids(text: str, messages: Sequence[ChatMessage]) -> str:
    """`text` with each tool result's call id marked as the current (before its content) or the previous (after it)."""
    for i, m in enumerate(messages):
        if m.role != "tool" or not m.tool_call_id or m.tool_call_id not in text:
            continue
        at = text.find(sentinel(i))
        before = text.rfind("HUBSHIPMSG", 0, at)
        after = text.find("HUBSHIPMSG", at + 1)
        head, middle, tail = text[:before if before >= 0 else 0], text[max(before, 0) : at], text[at:]
        middle = middle.replace(m.tool_call_id, RESULT_ID)
        cut = after - at if after >= 0 else len(tail)
        tail = tail[:cut].replace(m.tool_call_id, PREVIOUS_RESULT_ID) + tail[cut:]
        text = head + middle + tail
    if any(m.role == "tool" and m.tool_call_id and m.tool_call_id in text for m in messages):
        raise TemplateNotDerivable("the template writes a tool result's call id away from the result")
    return text
