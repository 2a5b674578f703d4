"""How a template writes one tool call, and where it writes a tool result's call id (for chat_tools).

A call is written as its pieces, the function's name, its id (when the template writes ids: Mistral, Solar) and its
arguments (`tojson`, or one by one: ArgForm), in some order with fixed text between them: the *layout*. In a probe render, the span from a
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
RESULT_NAME = "\x00HUBSHIPRESULTNAME\x00"
"""Where a tool result writes its function's name (before its content): its own `name` (`by_name`), the name of the
call its id cites, looked up in the conversation (`by_id`, Solar Open), or the name of the first call of the latest
message with calls before it (`by_last`, gpt-oss's `last_tool_call`)."""
BY_NAME, BY_ID, BY_LAST = "name", "id", "last"
"""The id of the tool result whose content precedes (in the glue after a tool message)."""
CALL_INDEX = "\x00HUBSHIPCALLINDEX\x00"
"""A call's index in its message (Kimi K2's `functions.name:0`), in the text between a call's pieces."""
_SENTINEL = re.compile(r"HUBSHIPMSG\d+X")


@attrs.frozen
class ArgForm:
    """Arguments written one by one (`<parameter=key>\nvalue\n</parameter>`, Qwen3.5, GLM, MiniMax...): `mid` between
    a key and its value, `inter` between a value and the next key; `json_strings` strings as JSON strings (else as
    they are); `python_scalars` booleans and null as Python writes them (`True`, `None`; else as JSON); objects and
    lists as `tojson`."""

    mid: str
    inter: str
    json_strings: bool
    python_scalars: bool

    def text(self, arguments: str) -> str:
        """The arguments (a JSON object's text) as the template writes them."""
        return self.inter.join(f"{k}{self.mid}{self.value(v)}" for k, v in json.loads(arguments).items())

    def value(self, v: object) -> str:
        if isinstance(v, str):
            return tojson(v) if self.json_strings else v
        if isinstance(v, bool | type(None)) and self.python_scalars:
            return str(v)
        return tojson(v)


ARG_PROBE = {"hubshiparga": "HUBSHIPSTRX", "hubshipargb": 7, "hubshipargc": True, "hubshipargd": None, "hubshiparge": [1, "x"]}
"""Arguments whose keys are in sorted order (as Go writes them), one of each kind of value."""


def arg_form(text: str) -> ArgForm | None:
    """How a render of a call with ARG_PROBE writes its arguments one by one; None when it does not."""
    keys = list(ARG_PROBE)
    at = [text.find(k) for k in keys]
    if min(at) < 0 or at != sorted(at):
        return None
    json_strings = '"HUBSHIPSTRX"' in text
    first = tojson("HUBSHIPSTRX") if json_strings else "HUBSHIPSTRX"
    mid = text[at[0] + len(keys[0]) : text.find(first, at[0])]
    inter = text[text.find(first, at[0]) + len(first) : at[1]]
    values = [text[a + len(k) + len(mid) : b - len(inter)] for a, k, b in zip(at, keys, at[1:], strict=False)]
    python = values[2] == "True"
    form = ArgForm(mid, inter, json_strings, python)
    expected = [form.value(v) for v in list(ARG_PROBE.values())[:-1]]
    last = text[at[-1] + len(keys[-1]) + len(mid) :]
    if values != expected or not last.startswith(form.value(ARG_PROBE[keys[-1]])):
        return None
    return form


@attrs.frozen
class CallLayout:
    """`pieces` in the order written ("name", "id", "args"); `seps` the text between consecutive pieces."""

    pieces: tuple[str, ...]
    seps: tuple[str, ...]

    def first(self) -> CallLayout:
        """The layout of a message's first call (CALL_INDEX written as 0)."""
        return CallLayout(self.pieces, tuple(s.replace(CALL_INDEX, "0") for s in self.seps))


def _indexed(layouts: Sequence[CallLayout]) -> set[CallLayout]:
    """The layouts with each call's index in its seps marked CALL_INDEX, when that makes them one; else as they are."""
    marked = {CallLayout(x.pieces, tuple(s.replace(str(k), CALL_INDEX) for s in x.seps)) for k, x in enumerate(layouts)}
    return marked if len(set(layouts)) > 1 and len(marked) == 1 else set(layouts)


def tojson(value: object, indent: int | None = None) -> str:
    """transformers' `tojson` filter (json.dumps, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _pieces(text: str, call: ToolCall, start: int, stop: int, form: ArgForm | None) -> list[tuple[int, str, int]]:
    """(position, piece, length) of the call's pieces in text[start:stop], in order."""
    found = []
    args = form.text(call.arguments) if form else tojson(json.loads(call.arguments))
    for piece, value in (("name", call.name), ("id", call.id), ("args", args)):
        at = text.find(value, start, stop) if value else -1
        if at >= 0:
            found.append((at, piece, len(value)))
        elif piece != "id":
            raise TemplateNotDerivable("the template writes tool calls other than by name and tojson of their arguments")
    return sorted(found)


def cut_calls(
    text: str, calls: Sequence[ToolCall], mark: str, start: int = 0, form: ArgForm | None = None
) -> tuple[str, CallLayout, list[str]]:
    """`text` with the span of the calls (written from `start` on) replaced by `mark`, their layout, and the texts
    between two calls; raises TemplateNotDerivable when they are not written one after the other with one layout."""
    cursor, spans, layouts = start, [], []
    for k, call in enumerate(calls):
        nxt = text.find(calls[k + 1].name, cursor) if k + 1 < len(calls) else -1
        following = _SENTINEL.search(text, cursor)
        stop = nxt if nxt >= 0 else following.start() if following else len(text)
        found = _pieces(text, call, cursor, stop, form)
        seps = tuple(text[a + n : b] for (a, _, n), (b, _, _) in itertools.pairwise(found))
        layouts.append(CallLayout(tuple(p for _, p, _ in found), seps))
        spans.append((found[0][0], found[-1][0] + found[-1][2]))
        cursor = spans[-1][1]
    one = _indexed(layouts)
    if len(one) != 1:
        raise TemplateNotDerivable("the template writes a second tool call differently from the first")
    between = [text[spans[k][1] : spans[k + 1][0]] for k in range(len(spans) - 1)]
    return text[: spans[0][0]] + mark + text[spans[-1][1] :], one.pop(), between


def mark_result_ids(text: str, messages: Sequence[ChatMessage]) -> str:
    """`text` with each tool result's call id marked as the current (before its content) or the previous (after it);
    the last result first, so that a result citing the same id as the one before it keeps its own."""
    for i, m in reversed(list(enumerate(messages))):
        if m.role != "tool" or not m.tool_call_id or m.tool_call_id not in text:
            continue
        at = text.find(sentinel(i))
        before = text.rfind("HUBSHIPMSG", 0, at)
        after = text.find("HUBSHIPMSG", at + 1)
        head, middle, tail = text[: before if before >= 0 else 0], text[max(before, 0) : at], text[at:]
        middle = middle.replace(m.tool_call_id, RESULT_ID)
        cut = after - at if after >= 0 else len(tail)
        tail = tail[:cut].replace(m.tool_call_id, PREVIOUS_RESULT_ID) + tail[cut:]
        text = head + middle + tail
    if any(m.role == "tool" and m.tool_call_id and m.tool_call_id in text for m in messages):
        raise TemplateNotDerivable("the template writes a tool result's call id away from the result")
    return text


def result_name(messages: Sequence[ChatMessage], i: int, source: str) -> str:
    """The function name tool result `i` writes by `source` (BY_NAME, BY_ID, BY_LAST; "" when there is none)."""
    if source == BY_NAME:
        return messages[i].tool_name
    if source == BY_LAST:
        return next((m.tool_calls[0].name for m in reversed(messages[:i]) if m.tool_calls), "")
    return next((c.name for m in messages for c in m.tool_calls if c.id == messages[i].tool_call_id), "")


def mark_result_names(text: str, messages: Sequence[ChatMessage], source: str) -> str:
    """`text` with each tool result's function name, written before its content, marked RESULT_NAME; the name is
    result_name's by `source` (none: nothing is written)."""
    for i, m in enumerate(messages):
        name = result_name(messages, i, source) if m.role == "tool" else ""
        if m.role != "tool" or not name:
            continue
        at = text.find(sentinel(i))
        before = max(text.rfind("HUBSHIPMSG", 0, at), 0)
        text = text[:before] + text[before:at].replace(name, RESULT_NAME, 1) + text[at:]
    return text
