"""Learn how a chat template writes tools, tool calls and tool results, by rendering it on tool conversations.

The probe is the role probe's (chat_learning) with two more message kinds: `calls` (an assistant message that
calls tools, its content empty) and `tool` (a tool result). Every order of these kinds up to six messages is
rendered with one tool offered; in each render the tool's JSON is cut out as TOOLS_SLOT and each message's
calls (from the first call's name to the last call's arguments) as that message's sentinel, so the same glue
model (chat_glue, chat_learning) learns the text between kinds with tools on. A few more renders learn what the
sentinels stand for: the JSON form of a tool and the text between two tools; the text between a call's name and
its arguments and between two calls (or the template's refusal of two calls); where an assistant content beside
calls goes; and whether tool results are written as JSON strings. Anything else is not derivable, in one line.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence

import attrs

from hubship.domain.chat_dates import MARKERS
from hubship.domain.chat_learning import _attempts
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

TOOLS_SLOT = "\x00HUBSHIPTOOLS\x00"
"""Where the offered tools are written inside a glue string."""
TOOL_KINDS = ("calls", "tool")
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


def probe_call(i: int) -> ToolCall:
    return ToolCall(f"hubshipfn{i}", json.dumps({"hubshiparg": f"HUBSHIPARG{i}X"}))


@attrs.frozen
class ToolForm:
    """How a tool is written: the whole definition (`whole`) or its `function` part, by `tojson(indent=indent)`."""

    whole: bool
    indent: int | None


@attrs.frozen(kw_only=True)
class ToolStructure:
    """The tools-on layout: `chat` is a ChatStructure over the kinds plus `calls` and `tool`, with TOOLS_SLOT in its
    glue and each calls message's calls as its content. `call_sep` None: one call per message (`one_call` is the
    template's message for more); `content` the text (before, after) an assistant content beside calls, None when
    the template drops it, written `content_at` characters before the end of the glue ahead of the calls; `opening`
    what the model itself writes before its first call (the end of that glue); `json_results` tool results are
    written as JSON strings."""

    chat: ChatStructure
    form: ToolForm
    tool_sep: str
    call_mid: str
    call_sep: str | None
    one_call: str = ""
    content: tuple[str, str] | None = None
    content_at: int = 0
    opening: str = ""
    json_results: bool = False


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


def _messages(kinds: Sequence[str]) -> list[ChatMessage]:
    out = []
    for i, kind in enumerate(kinds):
        if kind == "calls":
            out.append(ChatMessage("assistant", "", tool_calls=(probe_call(i),)))
        elif kind == "tool":
            answered = next(j for j in range(i - 1, -1, -1) if kinds[j] == "calls")
            out.append(ChatMessage("tool", sentinel(i), tool_name=probe_call(answered).name))
        else:
            out.append(ChatMessage(kind, sentinel(i)))
    return out


def tojson(value: object, indent: int | None = None) -> str:
    """transformers' `tojson` filter (json.dumps, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _tool_text(tool: str, form: ToolForm) -> str:
    data = json.loads(tool)
    return tojson(data if form.whole else data["function"], form.indent)


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
        for form in (ToolForm(w, i) for w in (True, False) for i in (None, 4, 2)):
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


def _cut_calls(text: str, calls: Sequence[ToolCall], mark: str) -> tuple[str, list[str]]:
    """`text` with the span from the first call's name to the last call's arguments replaced by `mark`, and the
    texts between each name and its arguments, and between calls; raises TemplateNotDerivable if not in order."""
    cursor, spans = 0, []
    for call in calls:
        name = text.find(call.name, cursor)
        args = text.find(tojson(json.loads(call.arguments)), name)
        if name < 0 or args < 0:
            raise TemplateNotDerivable("the template writes tool calls other than by name and tojson of their arguments")
        spans.append((name, args, args + len(tojson(json.loads(call.arguments)))))
        cursor = spans[-1][2]
    between = [text[n + len(c.name) : a] for (n, a, _), c in zip(spans, calls, strict=True)]
    between += [text[spans[k][2] : spans[k + 1][0]] for k in range(len(spans) - 1)]
    return text[: spans[0][0]] + mark + text[spans[-1][2] :], between


def _observe(prober: _Prober, kinds: tuple[str, ...], tool: str, form: ToolForm, thinking: bool = False) -> tuple[Observation, str]:
    messages = _messages(kinds)
    if thinking:
        messages = [attrs.evolve(m, thinking=reasoning(i)) if m.role == "assistant" else m for i, m in enumerate(messages)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        raise TemplateNotDerivable(f"the template rejects the tool conversation {'/'.join(kinds)} ({exc})") from None
    if text.count(_tool_text(tool, form)) > 1:
        raise TemplateNotDerivable("the template writes the tools more than once")
    text = text.replace(_tool_text(tool, form), TOOLS_SLOT)
    mids = []
    for i, m in enumerate(messages):
        if m.tool_calls:
            text, between = _cut_calls(text, m.tool_calls, sentinel(i))
            mids += between
    if any(probe_call(i).name in text for i in range(len(kinds))):
        raise TemplateNotDerivable("the template writes a tool call's name outside the call (e.g. in its result)")
    return Observation(kinds, text, None), mids[0] if mids else ""


def _two_calls(prober: _Prober, tool: str, mid: str) -> tuple[str | None, str]:
    """The text between two calls of one message; None and the template's message when it refuses two calls."""
    calls = (probe_call(1), probe_call(2))
    messages = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", "", tool_calls=calls)]
    messages += [ChatMessage("tool", sentinel(3 + k), tool_name=c.name) for k, c in enumerate(calls)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        return None, str(exc) or "the model's chat template accepts one tool call per message"
    _, between = _cut_calls(text, calls, sentinel(1))
    if between[0] != mid or between[1] != mid:
        raise TemplateNotDerivable("the template writes a second tool call differently from the first")
    return between[2], ""


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
    start = len(common_prefix(with_content[:at], without))
    rest = with_content[at + len(sentinel(1)) :]
    tail = without[start:]
    if not rest.endswith(tail) or start < user_end or start - user_end > len(glue):
        raise TemplateNotDerivable("the template writes an assistant content beside tool calls where hubship cannot place it")
    return (with_content[start:at], rest[: len(rest) - len(tail)]), len(glue) - (start - user_end)


def common_prefix(a: str, b: str) -> str:
    """The longest common prefix of two strings."""
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _result(i: int, call: ToolCall, extra: str = "") -> ChatMessage:
    return ChatMessage("tool", sentinel(i) + extra, tool_name=call.name)


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
    observed = [_observe(prober, kinds, tool, form) for kinds in tool_sequences()]
    mids = {mid for _, mid in observed if mid}
    if len(mids) != 1:
        raise TemplateNotDerivable("the template writes the text between a tool call's name and its arguments inconsistently")
    mid = mids.pop()
    json_results = _json_results(prober, tool)
    chat = _attempts([_unquote(o) if json_results else o for o, _ in observed])
    sep, one_call = _two_calls(prober, tool, mid)
    glue = chat.text("user", "calls", last=False, system=False) or ""
    content, content_at = _content(prober, tool, glue)
    return ToolStructure(
        chat=chat,
        form=form,
        tool_sep=prober.tool_sep(form),
        call_mid=mid,
        call_sep=sep,
        one_call=one_call,
        content=content,
        content_at=content_at,
        opening=_opening(chat, content_at if content else None),
        json_results=json_results,
    )


def reasoning_observations(render: Render, bos: str | None, s: ToolStructure) -> list[Observation]:
    """The tool probes again with reasoning `reasoning(i)` on every assistant message, cut as for learning `s`."""
    prober = _Prober(render, bos)
    observed = [_observe(prober, kinds, probe_tool(0), s.form, thinking=True)[0] for kinds in tool_sequences()]
    return [_unquote(o) if s.json_results else o for o in observed]


def _unquote(obs: Observation) -> Observation:
    text = obs.text or ""
    for i, kind in enumerate(obs.roles):
        if kind == "tool":
            quoted = f'"{sentinel(i)}"'
            if quoted not in text:
                raise TemplateNotDerivable("the template writes some tool results as JSON strings and others not")
            text = text.replace(quoted, sentinel(i))
    return attrs.evolve(obs, text=text)


def _opening(chat: ChatStructure, content_at: int | None) -> str:
    """What the model writes before its calls: the end of the glue ahead of them after the generation prompt (or
    after the content's place); "" when that glue does not start with the generation prompt."""
    glue = chat.text("user", "calls", last=False, system=False) or ""
    if content_at is not None:
        return glue[len(glue) - content_at :]
    prompt = chat.text("user", "", last=True, system=False) or ""
    return glue[len(prompt) :] if prompt and glue.startswith(prompt) else ""
