"""Learn how a chat template writes tools, tool calls and tool results, by rendering it on tool conversations.

The probes (tool_probes) are the role probe's with two more message kinds, `calls` and `tool`, every order up to
six messages, rendered with one tool offered. In each render the tool's JSON is cut out as TOOLS_SLOT, each
message's calls as that message's sentinel (chat_calls: name, id and arguments in one layout) and each result's
call id as a marker, so the same glue model (chat_glue, chat_learning) learns the text between kinds with tools
on; when that fails, the last user message is tried as a kind of its own (Mistral writes the tools before it).
Rejected probes are allowed only when they are exactly those whose user and assistant turns do not alternate
(tool exchanges aside, as Mistral checks). A few more renders learn the JSON form of a tool and the text between
two tools, the text between two calls (or the template's refusal of a second call), where an assistant content
beside calls goes, and whether tool results are written as JSON strings. Anything else is not derivable, in one line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs

from hubship.domain.chat_calls import ARG_PROBE, ArgForm, CallLayout, arg_form, cut_calls, mark_result_ids, tojson
from hubship.domain.chat_dates import MARKERS, date_formats
from hubship.domain.chat_learning import learn_structure
from hubship.domain.chat_template import (
    ChatMessage,
    ChatStructure,
    Observation,
    Render,
    TemplateNotDerivable,
    TemplateRejected,
    ToolCall,
    sentinel,
    strip_bos,
)
from hubship.domain.chat_thinking import reasoning
from hubship.domain.tool_probes import LAST_USER, mark_last_user, probe_call, probe_messages, probe_tool, speakers_alternate, tool_sequences

TOOLS_SLOT = "\x00HUBSHIPTOOLS\x00"
"""Where the offered tools are written inside a glue string."""


@attrs.frozen
class ToolForm:
    """How a tool is written: the whole definition (`whole`) or its `function` part, by `tojson(indent=indent)`, at
    nesting `level` (1: an element of the list `tools | tojson(indent=...)`, Granite 3.3)."""

    whole: bool
    indent: int | None
    level: int = 0


@attrs.frozen(kw_only=True)
class ToolStructure:
    """The tools-on layout: `chat` is a ChatStructure over the kinds plus `calls` and `tool`, with TOOLS_SLOT in its
    glue and each calls message's calls as its content; `layout` how a call is written, `args` how its arguments are
    (None: `tojson`). `call_sep` (between two
    calls) None: one call per message (`one_call` is the template's message for more); `alternate` the template's
    message when user and assistant turns (tool calls and results aside) must alternate ("" when it takes any
    order); `content` the text (before, after) an assistant content beside calls, None when the template drops it,
    written `content_at` characters before the end of the glue ahead of the calls; `opening` what the model itself
    writes before its first call (the end of that glue); `json_results` tool results are written as JSON strings;
    `last_user` the last user message is its own kind (LAST_USER: Mistral writes the tools before it)."""

    chat: ChatStructure
    form: ToolForm
    tool_sep: str
    layout: CallLayout
    args: ArgForm | None
    call_sep: str | None
    one_call: str = ""
    alternate: str = ""
    content: tuple[str, str] | None = None
    content_at: int = 0
    opening: str = ""
    json_results: bool = False
    last_user: bool = False


def _tool_text(tool: str, form: ToolForm) -> str:
    data = json.loads(tool)
    text = tojson(data if form.whole else data["function"], form.indent)
    return text.replace("\n", "\n" + " " * (form.indent or 0) * form.level)


class _Prober:
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
            if text.count(_tool_text(probe_tool(0), form)) == 1:
                return form
        if text == self.text([ChatMessage("user", sentinel(0))], []):
            raise TemplateNotDerivable("the template does not write the tools it is given")
        raise TemplateNotDerivable("the template writes tool definitions in a form other than tojson of each tool")

    def tool_sep(self, form: ToolForm) -> str:
        one, two = (self.text([ChatMessage("user", sentinel(0))], [probe_tool(i) for i in range(n)]) for n in (1, 2))
        first, second = _tool_text(probe_tool(0), form), _tool_text(probe_tool(1), form)
        start, end = two.find(first) + len(first), two.find(second)
        if two.find(first) < 0 or end < start:
            raise TemplateNotDerivable("the template does not write two tools one after the other")
        if two[: start - len(first)] + TOOLS_SLOT + two[end + len(second) :] != one.replace(first, TOOLS_SLOT):
            raise TemplateNotDerivable("the template writes more than the tools themselves when it is given two")
        return two[start:end]


def _observe(
    prober: _Prober, kinds: tuple[str, ...], tool: str, form: ToolForm, args: ArgForm | None, ids: bool, thinking: bool = False
) -> tuple[Observation, CallLayout | None]:
    messages = probe_messages(kinds)
    if thinking:
        messages = [attrs.evolve(m, thinking=reasoning(i)) if m.role == "assistant" else m for i, m in enumerate(messages)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        return Observation(kinds, None, str(exc) or "rejected"), None
    if text.count(_tool_text(tool, form)) > 1:
        raise TemplateNotDerivable("the template writes the tools more than once")
    text = text.replace(_tool_text(tool, form), TOOLS_SLOT)
    layouts = []
    for i, m in enumerate(messages):
        if m.tool_calls:
            start = text.find(sentinel(i - 1)) + len(sentinel(i - 1))
            text, layout, _ = cut_calls(text, _ids(m.tool_calls, ids), sentinel(i), start, args)
            layouts.append(layout)
    text = mark_result_ids(text, messages)
    if any(probe_call(i).name in text for i in range(len(kinds))):
        raise TemplateNotDerivable("the template writes a tool call's name outside the call (e.g. in its result)")
    if len(set(layouts)) > 1:
        raise TemplateNotDerivable("the template writes tool calls differently in different messages")
    return Observation(kinds, text, None), layouts[0] if layouts else None


def _args(prober: _Prober, tool: str) -> ArgForm | None:
    """How calls write their arguments: None for `tojson` of the object, else one by one (ArgForm)."""
    call = ToolCall(probe_call(1).name, json.dumps(ARG_PROBE), probe_call(1).id)
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=(call,)), _result(2, probe_call(1))]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        raise TemplateNotDerivable(f"the template rejects a tool call with arguments of every JSON kind ({exc})") from None
    if tojson(ARG_PROBE) in text:
        return None
    found = arg_form(text)
    if found is None:
        raise TemplateNotDerivable("the template writes tool-call arguments other than as tojson or one by one with tojson values")
    return found


def _ids(calls: Sequence[ToolCall], ids: bool) -> list[ToolCall]:
    """The calls as cut: without their ids when the template does not write ids in calls (Kimi K2 writes them in results)."""
    return list(calls) if ids else [attrs.evolve(c, id="") for c in calls]


def _call_ids(prober: _Prober, tool: str) -> bool:
    """Whether the template writes a call's id in the call (not only in the result that cites it)."""
    call = probe_call(1)
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=(call,))]
    messages.append(ChatMessage("tool", sentinel(2), tool_name=call.name, tool_call_id="hubother9"))
    try:
        return call.id in prober.text(messages, [tool])
    except TemplateRejected:
        return True


def _two_calls(
    prober: _Prober, tool: str, layout: CallLayout, args: ArgForm | None, ids: bool
) -> tuple[str | None, str, CallLayout]:
    """The text between two calls of one message and the layout (with the call's index where the template writes it);
    None and the template's message when it refuses two calls."""
    calls = (probe_call(1, 0), probe_call(1, 1))
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=calls)]
    messages += [ChatMessage("tool", sentinel(2 + k), tool_name=c.name, tool_call_id=c.id) for k, c in enumerate(calls)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        return None, str(exc) or "the model's chat template accepts one tool call per message", layout
    _, found, between = cut_calls(text, _ids(calls, ids), sentinel(1), text.find(sentinel(0)) + len(sentinel(0)), args)
    if found.first() != layout:
        raise TemplateNotDerivable("the template writes a second tool call differently from the first")
    return between[0], "", found


def _content(prober: _Prober, tool: str, glue: str) -> tuple[tuple[str, str] | None, int]:
    """Where an assistant content beside calls goes: (before, after) it, and how many characters before the end of
    the glue ahead of the calls; None when the template drops it."""
    call = probe_call(1)
    without, with_content = (
        prober.text([ChatMessage("user", sentinel(0)), ChatMessage("assistant", content, tool_calls=(call,)), _result(2, call)], [tool])
        for content in ("", sentinel(1))
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


def _result(i: int, call: ToolCall, extra: str = "") -> ChatMessage:
    return ChatMessage("tool", sentinel(i) + extra, tool_name=call.name, tool_call_id=call.id)


def _json_results(prober: _Prober, tool: str) -> bool:
    """Whether tool results are written as JSON strings (a quote in one comes out escaped)."""
    call = probe_call(1)
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=(call,)), _result(2, call, '"')]
    return sentinel(2) + '\\"' in prober.text(messages, [tool])


def derive_tools(render: Render, bos: str | None) -> ToolStructure:
    """The template's tools-on layout; raises TemplateNotDerivable (one line) when it cannot be described."""
    prober = _Prober(render, bos)
    form = prober.form()
    tool = probe_tool(0)
    args = _args(prober, tool)
    ids = _call_ids(prober, tool)
    observed = [_observe(prober, kinds, tool, form, args, ids) for kinds in tool_sequences()]
    alternate = _alternation([o for o, _ in observed])
    observed = [(o, layout) for o, layout in observed if not o.rejected]
    layouts = {layout for _, layout in observed if layout}
    if len(layouts) != 1:
        raise TemplateNotDerivable("the template writes tool calls differently in different conversations")
    layout = layouts.pop()
    json_results = _json_results(prober, tool)
    accepted = [_unquote(o) if json_results else o for o, _ in observed]
    try:
        chat, last_user = learn_structure(accepted), False
    except TemplateNotDerivable as exc:  # Mistral writes the tools before the last user message
        chat, last_user = _attempts_or(exc, [mark_last_user(o) for o in accepted]), True
    chat = attrs.evolve(chat, dates=date_formats([o.text for o in accepted if o.text]))
    ask = LAST_USER if last_user else "user"
    sep, one_call, layout = _two_calls(prober, tool, layout, args, ids)
    glue = chat.text(ask, "calls", last=False, system=False) or ""
    content, content_at = _content(prober, tool, glue)
    return ToolStructure(
        chat=chat,
        form=form,
        tool_sep=prober.tool_sep(form),
        layout=layout,
        args=args,
        alternate=alternate,
        call_sep=sep,
        one_call=one_call,
        content=content,
        content_at=content_at,
        opening=_opening(chat, ask, content_at if content else None),
        json_results=json_results,
        last_user=last_user,
    )


def _attempts_or(first: TemplateNotDerivable, observations: list[Observation]) -> ChatStructure:
    try:
        return learn_structure(observations)
    except TemplateNotDerivable:
        raise first from None


def _alternation(observations: Sequence[Observation]) -> str:
    """The template's message when it rejects exactly the tool probes whose turns do not alternate; "" when it rejects
    none; raises TemplateNotDerivable for any other rejection."""
    rejected = [o for o in observations if o.rejected]
    if rejected and all(o.rejected != speakers_alternate(o.roles) for o in observations):
        return rejected[0].error or "the model's chat template wants user and assistant turns to alternate"
    if rejected:
        raise TemplateNotDerivable(f"the template rejects the tool conversation {'/'.join(rejected[0].roles)} ({rejected[0].error})")
    return ""


def reasoning_observations(render: Render, bos: str | None, s: ToolStructure) -> list[Observation]:
    """The tool probes again with reasoning `reasoning(i)` on every assistant message, cut as for learning `s`."""
    prober = _Prober(render, bos)
    ids = "id" in s.layout.pieces
    observed = [_observe(prober, kinds, probe_tool(0), s.form, s.args, ids, thinking=True)[0] for kinds in tool_sequences()]
    observed = [_unquote(o) if s.json_results else o for o in observed if not o.rejected]
    return [mark_last_user(o) for o in observed] if s.last_user else observed


def _unquote(obs: Observation) -> Observation:
    text = obs.text or ""
    for i, kind in enumerate(obs.roles):
        if kind == "tool":
            quoted = f'"{sentinel(i)}"'
            if quoted not in text:
                raise TemplateNotDerivable("the template writes some tool results as JSON strings and others not")
            text = text.replace(quoted, sentinel(i))
    return attrs.evolve(obs, text=text)


def _opening(chat: ChatStructure, ask: str, content_at: int | None) -> str:
    """What the model writes before its calls: the end of the glue ahead of them after the generation prompt (or
    after the content's place); "" when that glue does not start with the generation prompt."""
    glue = chat.text(ask, "calls", last=False, system=False) or ""
    if content_at is not None:
        return glue[len(glue) - content_at :]
    prompt = chat.text(ask, "", last=True, system=False) or ""
    return glue[len(prompt) :] if prompt and glue.startswith(prompt) else ""
