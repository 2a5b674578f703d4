"""Single facts about how a chat template writes tools, each learned from a render or two (for chat_tools): the form
of a tool definition and the text between two tools, how call arguments are written, whether calls write their ids,
the text between two calls of one message, where an assistant content beside calls goes, and whether tool results
are written as JSON strings. A fact the template does not show in a way hubship can write raises TemplateNotDerivable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from hubship.domain.chat_calls import ARG_PROBE, BY_ID, BY_LAST, BY_NAME, ArgForm, CallLayout, arg_form, cut_calls, tojson
from hubship.domain.chat_dates import MARKERS
from hubship.domain.chat_template import ChatMessage, Render, TemplateNotDerivable, TemplateRejected, ToolCall, sentinel, strip_bos
from hubship.domain.tool_forms import NAMED, RICH
from hubship.domain.tool_probes import probe_call, probe_tool

TOOLS_SLOT = "\x00HUBSHIPTOOLS\x00"
"""Where the offered tools are written inside a glue string."""


@attrs.frozen
class ToolForm:
    """How a tool is written: the whole definition (`whole`) or its `function` part, by `tojson(indent=indent)`, at
    nesting `level` (1: an element of the list `tools | tojson(indent=...)`, Granite 3.3); or by the `named` form of
    tool_forms (the other fields unused)."""

    whole: bool
    indent: int | None
    level: int = 0
    named: str = ""


def _seen(text: str) -> str:
    """What a tool definition in `text` (a render with probe_tool(0)) looks like, for the refusal."""
    name = json.loads(probe_tool(0))["function"]["name"]
    if f"type {name} = (" in text:
        return "as TypeScript signatures"
    if "{'type': 'function'" in text or f"'name': '{name}'" in text:
        return "as Python dicts (repr)"
    if f"def {name}(" in text:
        return "as Python function signatures"
    if f"<name>{name}</name>" in text:
        return "as XML elements"
    if "&#34;" in text:
        return "as HTML-escaped JSON"
    if f'"name": "{name}"' in text or f'"name":"{name}"' in text:
        return "as JSON with other members or layout than the tool's"
    return "in a form of their own"


def tool_text(tool: str, form: ToolForm) -> str:
    if form.named:
        return NAMED[form.named](tool)
    data = json.loads(tool)
    text = tojson(data if form.whole else data["function"], form.indent)
    return text.replace("\n", "\n" + " " * (form.indent or 0) * form.level)


class Prober:
    def __init__(self, render: Render, bos: str | None) -> None:
        self.render, self.bos = render, bos

    def text(self, messages: Sequence[ChatMessage], tools: Sequence[str], **mode: bool) -> str:
        """The render (raises TemplateRejected); a generation prompt unless the last message is an assistant's."""
        prefill = bool(messages) and messages[-1].role == "assistant"
        mode = mode or {"add_generation_prompt": not prefill, "continue_final": prefill}
        return strip_bos(self.render(list(messages), **mode, clock=MARKERS, tools=tuple(tools)), self.bos)

    def form(self) -> ToolForm:
        text = self.text([ChatMessage("user", sentinel(0))], [probe_tool(0)])
        forms = [ToolForm(w, i, level) for level in (0, 1) for w in (True, False) for i in (None, 4, 2) if i or not level]
        for form in forms:
            if text.count(tool_text(probe_tool(0), form)) == 1:
                return form
        for name in NAMED:
            if text.count(NAMED[name](probe_tool(0))) == 1 and self._writes(RICH, ToolForm(False, None, named=name)):
                return ToolForm(False, None, named=name)
        if text == self.text([ChatMessage("user", sentinel(0))], []):
            raise TemplateNotDerivable("the template does not write the tools it is given")
        raise TemplateNotDerivable(f"the template writes tool definitions {_seen(text)}, not as tojson of each tool or a known form")

    def _writes(self, tool: str, form: ToolForm) -> bool:
        """Whether the template writes `tool` as `form` says (False when it rejects it)."""
        try:
            return self.text([ChatMessage("user", sentinel(0))], [tool]).count(tool_text(tool, form)) == 1
        except TemplateRejected:
            return False

    def tool_sep(self, form: ToolForm) -> str:
        one, two = (self.text([ChatMessage("user", sentinel(0))], [probe_tool(i) for i in range(n)]) for n in (1, 2))
        first, second = tool_text(probe_tool(0), form), tool_text(probe_tool(1), form)
        start, end = two.find(first) + len(first), two.find(second)
        if two.find(first) < 0 or end < start:
            raise TemplateNotDerivable("the template does not write two tools one after the other")
        if two[: start - len(first)] + TOOLS_SLOT + two[end + len(second) :] != one.replace(first, TOOLS_SLOT):
            raise TemplateNotDerivable("the template writes more than the tools themselves when it is given two")
        return two[start:end]


def argument_form(prober: Prober, tool: str) -> ArgForm | None:
    """How calls write their arguments: None for `tojson` of the object, else one by one (ArgForm)."""
    call = ToolCall(probe_call(1).name, json.dumps(ARG_PROBE), probe_call(1).id)
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=(call,)), result_message(2, probe_call(1))]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        raise TemplateNotDerivable(f"the template rejects a tool call with arguments of every JSON kind ({exc})") from None
    if tojson(ARG_PROBE) in text:
        return None
    found = arg_form(text)
    if found is None and not any(key in text for key in ARG_PROBE):
        # Granite 3.3, LFM2: the model's calls live in its output alone; Ollama would have none to read back from the TEMPLATE
        raise TemplateNotDerivable("the template does not write the tool calls of an assistant message (it drops them)")
    if found is None:
        raise TemplateNotDerivable("the template writes tool-call arguments other than as tojson or one by one with tojson values")
    return found


def without_ids(calls: Sequence[ToolCall], ids: bool) -> list[ToolCall]:
    """The calls as cut: without their ids when the template does not write ids in calls (Kimi K2 writes them in results)."""
    return list(calls) if ids else [attrs.evolve(c, id="") for c in calls]


def call_ids(prober: Prober, tool: str) -> bool:
    """Whether the template writes a call's id in the call (not only in the result that cites it)."""
    call = probe_call(1)
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=(call,))]
    messages.append(ChatMessage("tool", sentinel(2), tool_name=call.name, tool_call_id="hubother9"))
    try:
        return call.id in prober.text(messages, [tool])
    except TemplateRejected:
        return True


def two_calls(prober: Prober, tool: str, layout: CallLayout, args: ArgForm | None, ids: bool) -> tuple[str | None, str, CallLayout, bool]:
    """The text between two calls of one message and the layout (with the call's index where the template writes it);
    None and the template's message when it refuses two calls; None and True when it writes the first call only
    (GigaChat, gpt-oss: `message.tool_calls[0]`), the render then the one of that call alone."""
    calls = (probe_call(1, 0), probe_call(1, 1))
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=calls)]
    messages += [ChatMessage("tool", sentinel(2 + k), tool_name=c.name, tool_call_id=c.id) for k, c in enumerate(calls)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        return None, str(exc) or "the model's chat template accepts one tool call per message", layout, False
    first_only = [*messages[:1], attrs.evolve(messages[1], tool_calls=calls[:1]), *messages[2:]]
    if calls[1].name not in text and text == prober.text(first_only, [tool]):
        return None, "", layout, True
    _, found, between = cut_calls(text, without_ids(calls, ids), sentinel(1), text.find(sentinel(0)) + len(sentinel(0)), args)
    if found.first() != layout:
        raise TemplateNotDerivable("the template writes a second tool call differently from the first")
    return between[0], "", found, False


def content_place(prober: Prober, tool: str, glue: str) -> tuple[tuple[str, str] | None, int]:
    """Where an assistant content beside calls goes: (before, after) it, and how many characters before the end of
    the glue ahead of the calls; None when the template drops it."""
    call = probe_call(1)
    ask, answer = ChatMessage("user", sentinel(0)), result_message(2, call)
    without, with_content = (
        prober.text([ask, ChatMessage("assistant", content, tool_calls=(call,)), answer], [tool]) for content in ("", sentinel(1))
    )
    if sentinel(1) not in with_content:
        if with_content != without:
            raise TemplateNotDerivable("the template changes an assistant message with tool calls when it has a content")
        return None, 0
    at = with_content.find(sentinel(1))
    user_end = without.find(sentinel(0)) + len(sentinel(0))
    start = len(_common_prefix(with_content[:at], without))
    rest = with_content[at + len(sentinel(1)) :]
    tail = without[start:]
    if not rest.endswith(tail) or start < user_end or start - user_end > len(glue):
        raise TemplateNotDerivable("the template writes an assistant content beside tool calls where hubship cannot place it")
    return (with_content[start:at], rest[: len(rest) - len(tail)]), len(glue) - (start - user_end)


def _common_prefix(a: str, b: str) -> str:
    """The longest common prefix of two strings."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def result_message(i: int, call: ToolCall, extra: str = "") -> ChatMessage:
    return ChatMessage("tool", sentinel(i) + extra, tool_name=call.name, tool_call_id=call.id)


def writes_json_results(prober: Prober, tool: str) -> bool:
    """Whether tool results are written as JSON strings (a quote in one comes out escaped)."""
    call = probe_call(1)
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=(call,)), result_message(2, call, '"')]
    return sentinel(2) + '\\"' in prober.text(messages, [tool])


def result_names(prober: Prober, tool: str) -> str:
    """Where a tool result's function name comes from, when the result writes one before its content: its own `name`
    (BY_NAME) or the call its id cites (BY_ID); "" when results write no name. Two calls answered in the other order,
    each result with a `name` of its own, tell them apart."""
    calls = (probe_call(1, 0), probe_call(1, 1))
    own = ("hubshipresname2", "hubshipresname3")
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=calls)]
    messages += [ChatMessage("tool", sentinel(2 + k), tool_name=own[k], tool_call_id=c.id) for k, c in enumerate(reversed(calls))]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected:
        return ""
    first, second = text.find(sentinel(2)), text.find(sentinel(3))
    if 0 <= text.find(own[0]) < first < text.find(own[1]) < second:
        return BY_NAME
    if text[:first].count(calls[1].name) == 2 and first < text.find(calls[0].name, first) < second:
        return BY_ID
    return BY_LAST if _names_the_last_first_call(prober, tool) else ""


def _names_the_last_first_call(prober: Prober, tool: str) -> bool:
    """Whether each result writes the name of the first call of the latest message with calls (gpt-oss): two calls
    messages of two calls each, every result with a name and an id of its own, each name counted where it falls."""
    first, second = (probe_call(1, 0), probe_call(1, 1)), (probe_call(4, 0), probe_call(4, 1))
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=first)]
    messages += [ChatMessage("tool", sentinel(2 + k), tool_name=f"hubshipresname{2 + k}", tool_call_id=f"hubother{k}") for k in (0, 1)]
    messages.append(ChatMessage("assistant", "", tool_calls=second))
    messages += [ChatMessage("tool", sentinel(5 + k), tool_name=f"hubshipresname{5 + k}", tool_call_id=f"hubother{k + 2}") for k in (0, 1)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected:
        return False
    at = [text.find(sentinel(i)) for i in (2, 3, 5, 6)]
    if min(at) < 0 or at != sorted(at) or "hubshipresname" in text:
        return False
    regions = (text[: at[0]], text[at[0] : at[1]], text[at[1] : at[2]], text[at[2] : at[3]])
    names = (first[0].name, first[0].name, second[0].name, second[0].name)
    counts = [region.count(name) for region, name in zip(regions, names, strict=True)]
    return counts == [2, 1, 2, 1]  # a call and a result's name, a result's name, again
