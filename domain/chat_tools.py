"""Learn how a chat template writes tools, tool calls and tool results, by rendering it on tool conversations.

The probes (tool_probes) are the role probe's with two more message kinds, `calls` and `tool`, every order up to
six messages, rendered with one tool offered. In each render the tool's JSON is cut out as TOOLS_SLOT, each
message's calls as that message's sentinel (chat_calls: name, id and arguments in one layout) and each result's
call id as a marker, so the same glue model (chat_glue, chat_learning) learns the text between kinds with tools
on; when that fails, the last user message is tried as a kind of its own (Mistral writes the tools before it), then
the `last` feature on every assistant message after it too (ChatStructure.later: Qwen3.5's empty think blocks).
Rejected probes are allowed only when they are exactly those whose user and assistant turns do not alternate
(tool exchanges aside, as Mistral checks). A few more renders learn the JSON form of a tool and the text between
two tools, the text between two calls (or the template's refusal of a second call), where an assistant content
beside calls goes, and whether tool results are written as JSON strings (tool_facts). Anything else is not derivable,
in one line. TOOLS_SLOT and ToolForm are tool_facts' (re-exported here for go_tools).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from hubship.domain.chat_calls import BY_ID, ArgForm, CallLayout, cut_calls, mark_result_ids, mark_result_names

__all__ = ["TOOLS_SLOT", "ToolForm", "ToolStructure", "derive_tools", "reasoning_observations"]
from hubship.domain.chat_dates import date_formats
from hubship.domain.chat_learning import learn_structure
from hubship.domain.chat_template import (
    ChatStructure,
    Observation,
    Render,
    TemplateNotDerivable,
    TemplateRejected,
    sentinel,
)
from hubship.domain.chat_thinking import reasoning
from hubship.domain.tool_facts import (
    TOOLS_SLOT,
    Prober,
    ToolForm,
    argument_form,
    call_ids,
    content_place,
    result_names,
    tool_text,
    two_calls,
    without_ids,
    writes_json_results,
)
from hubship.domain.tool_probes import LAST_USER, mark_last_user, probe_call, probe_messages, probe_tool, speakers_alternate, tool_sequences


@attrs.frozen(kw_only=True)
class ToolStructure:
    """The tools-on layout: `chat` is a ChatStructure over the kinds plus `calls` and `tool`, with TOOLS_SLOT in its
    glue and each calls message's calls as its content; `layout` how a call is written, `args` how its arguments are
    (None: `tojson`). `call_sep` (between two
    calls) None: one call per message (`one_call` is the template's message for more; `first_call_only` when it writes
    the first and drops the others); `alternate` the template's
    message when user and assistant turns (tool calls and results aside) must alternate ("" when it takes any
    order); `content` the text (before, after) an assistant content beside calls, None when the template drops it,
    written `content_at` characters before the end of the glue ahead of the calls; `opening` what the model itself
    writes before its first call (the end of that glue); `json_results` tool results are written as JSON strings;
    `last_user` the last user message is its own kind (LAST_USER: Mistral writes the tools before it); `result_names`
    where a result's function name comes from (chat_calls.BY_NAME, BY_ID, BY_LAST; "": results write none)."""

    chat: ChatStructure
    form: ToolForm
    tool_sep: str
    layout: CallLayout
    args: ArgForm | None
    call_sep: str | None
    one_call: str = ""
    first_call_only: bool = False
    alternate: str = ""
    content: tuple[str, str] | None = None
    content_at: int = 0
    opening: str = ""
    json_results: bool = False
    last_user: bool = False
    result_names: str = ""


def _observe(
    prober: Prober,
    kinds: tuple[str, ...],
    tool: str,
    form: ToolForm,
    args: ArgForm | None,
    ids: bool,
    thinking: bool = False,
    names: str = "",
) -> tuple[Observation, CallLayout | None]:
    messages = probe_messages(kinds)
    if names == BY_ID:  # every result cites its message's call, so that every result writes a name to mark
        cited = [next((c.id for before in reversed(messages[:i]) for c in before.tool_calls), "") for i in range(len(messages))]
        messages = [attrs.evolve(m, tool_call_id=cited[i]) if m.role == "tool" else m for i, m in enumerate(messages)]
    if thinking:
        messages = [attrs.evolve(m, thinking=reasoning(i)) if m.role == "assistant" else m for i, m in enumerate(messages)]
    try:
        text = prober.text(messages, [tool])
    except TemplateRejected as exc:
        return Observation(kinds, None, str(exc) or "rejected"), None
    if text.count(tool_text(tool, form)) > 1:
        raise TemplateNotDerivable("the template writes the tools more than once")
    text = text.replace(tool_text(tool, form), TOOLS_SLOT)
    layouts = []
    for i, m in enumerate(messages):
        if m.tool_calls:
            start = text.find(sentinel(i - 1)) + len(sentinel(i - 1))
            text, layout, _ = cut_calls(text, without_ids(m.tool_calls, ids), sentinel(i), start, args)
            layouts.append(layout)
    text = mark_result_ids(text, messages)
    if names:
        text = mark_result_names(text, messages, names)
    if any(probe_call(i).name in text for i in range(len(kinds))):
        raise TemplateNotDerivable("the template writes a tool call's name outside the call (e.g. in its result)")
    if len(set(layouts)) > 1:
        raise TemplateNotDerivable("the template writes tool calls differently in different messages")
    return Observation(kinds, text, None), layouts[0] if layouts else None


def derive_tools(render: Render, bos: str | None) -> ToolStructure:
    """The template's tools-on layout; raises TemplateNotDerivable (one line) when it cannot be described."""
    prober = Prober(render, bos)
    form = prober.form()
    tool = probe_tool(0)
    args = argument_form(prober, tool)
    ids = call_ids(prober, tool)
    names = result_names(prober, tool)
    observed = [_observe(prober, kinds, tool, form, args, ids, names=names) for kinds in tool_sequences()]
    alternate = _alternation([o for o, _ in observed])
    observed = [(o, layout) for o, layout in observed if not o.rejected]
    layouts = {layout for _, layout in observed if layout}
    if len(layouts) != 1:
        raise TemplateNotDerivable("the template writes tool calls differently in different conversations")
    layout = layouts.pop()
    json_results = writes_json_results(prober, tool)
    accepted = [_unquote(o) if json_results else o for o, _ in observed]
    try:
        chat, last_user = learn_structure(accepted), False
    except TemplateNotDerivable as exc:  # Mistral writes the tools before the last user message
        chat, last_user = _attempts_or(exc, accepted)
    chat = attrs.evolve(chat, dates=date_formats([o.text for o in accepted if o.text]))
    ask = LAST_USER if last_user else "user"
    sep, one_call, layout, first_call_only = two_calls(prober, tool, layout, args, ids)
    glue = chat.text(ask, "calls", last=chat.later, system=False) or ""
    content, content_at = content_place(prober, tool, glue)
    return ToolStructure(
        chat=chat,
        form=form,
        tool_sep=prober.tool_sep(form),
        layout=layout,
        args=args,
        alternate=alternate,
        call_sep=sep,
        one_call=one_call,
        first_call_only=first_call_only,
        content=content,
        content_at=content_at,
        opening=_opening(chat, ask, content_at if content else None),
        json_results=json_results,
        last_user=last_user,
        result_names=names,
    )


def _attempts_or(first: TemplateNotDerivable, accepted: list[Observation]) -> tuple[ChatStructure, bool]:
    """The structure with the last user message of its own kind (Mistral writes the tools before it), else with the
    `last` feature on every assistant message after it (ChatStructure.later: Qwen3.5 writes an empty think block
    before each); (structure, last user is its own kind); raises `first` when neither explains the renders."""
    try:
        return learn_structure([mark_last_user(o) for o in accepted]), True
    except TemplateNotDerivable:
        pass
    try:
        return learn_structure(accepted, later=True), False
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
    prober = Prober(render, bos)
    ids = "id" in s.layout.pieces
    observed = [_observe(prober, kinds, probe_tool(0), s.form, s.args, ids, True, s.result_names)[0] for kinds in tool_sequences()]
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
    glue = chat.text(ask, "calls", last=chat.later, system=False) or ""
    if content_at is not None:
        return glue[len(glue) - content_at :]
    prompt = chat.text(ask, "", last=True, system=False) or ""
    return glue[len(prompt) :] if prompt and glue.startswith(prompt) else ""
