"""Tools in the derived Ollama TEMPLATE: learned from the Jinja template, proven in Go, or refused in one line.

Tools are an addition to the plain TEMPLATE: `derive_tools` learns the tools-on layout (domain.chat_tools), writes
the TEMPLATE with a `{{ if .Tools }}` half (domain.go_tools), renders the tool conversations (domain.tool_check) with
Jinja and with Go on the check days, and checks that the tool-call tag Ollama reads from the TEMPLATE (the Go
helper computes it from the parse tree as Ollama does) finds the rendered calls. Anything that
fails leaves the plain TEMPLATE (Ollama then refuses requests with tools for this model) and a one-line reason.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence

import attrs

from hubship.application.ollama_thinking import Thinking, bound, learn
from hubship.domain.chat_template import ChatMessage, Render, TemplateNotDerivable, TemplateRejected, strip_bos
from hubship.domain.chat_tools import ToolStructure, derive_tools, reasoning_observations
from hubship.domain.go_tools import emit_with_tools
from hubship.domain.ollama_parsers import PARSERS
from hubship.domain.template_check import CheckCase, RenderOutcome, compare
from hubship.domain.tool_check import (
    CALL,
    ONE_CALL,
    TOOL_CONVERSATIONS,
    escaped_arguments,
    offered_names,
    parses_back,
    reordered,
    tool_cases,
)
from hubship.ports.go_template_renderer import GoTemplateRenderer


@attrs.frozen(kw_only=True)
class ToolsOutcome:
    """`template` the TEMPLATE with tools (None: refused, `refusal` says why); `cases` the tool conversations proven;
    `tag` the tag Ollama finds calls by; `reordered` the calls whose arguments Ollama writes with keys sorted."""

    template: str | None = None
    refusal: str = ""
    cases: int = 0
    tag: str = ""
    structure: ToolStructure | None = None
    reordered: tuple[str, ...] = ()
    refusals: tuple[str, ...] = ()
    thinking: Thinking | None = None
    parser: str = ""


def jinja_outcome(render: Render, bos: str | None, case: CheckCase) -> RenderOutcome:
    prefill = case.messages[-1].role == "assistant" and not case.messages[-1].tool_calls
    try:
        text = render(
            list(case.messages),
            add_generation_prompt=not prefill,
            continue_final=prefill,
            clock=case.clock,
            tools=case.ollama.tools,
            think=case.ollama.think,
        )
    except TemplateRejected as exc:
        return RenderOutcome(error=str(exc))
    return RenderOutcome(text=strip_bos(text, bos))


def check_tools(
    render: Render,
    go: GoTemplateRenderer,
    bos: str | None,
    template: str,
    cases: Sequence[CheckCase],
    renders: Sequence[RenderOutcome] | None = None,
) -> tuple[str, ...]:
    """The tool conversations `cases` rendered by Jinja and by `template` in Go (`renders`, when the caller has them):
    one line per difference."""
    expected = [jinja_outcome(render, bos, c) for c in cases]
    return compare(cases, expected, renders if renders is not None else go.render(template, [c.ollama for c in cases]))


def _parse_back(
    renders: Sequence[RenderOutcome], cases: Sequence[CheckCase], reads: Callable[[str, CheckCase, ChatMessage], bool]
) -> str | None:
    """None when `reads` finds every proof call in the Go render of its assistant turn; else the conversation that fails."""
    for case, outcome in zip(cases, renders, strict=True):
        for k, message in enumerate(case.ollama.messages):
            if not message.tool_calls or outcome.text is None:
                continue
            start = outcome.text.find(case.ollama.messages[k - 1].content) + len(case.ollama.messages[k - 1].content)
            end = outcome.text.find(case.ollama.messages[k + 1].content, start)
            if not reads(outcome.text[start:end], case, message):
                return case.name
    return None


def builtin_parser(
    go: GoTemplateRenderer,
    template: str,
    cases: Sequence[CheckCase],
    renders: Sequence[RenderOutcome] | None = None,
    thinks: bool | None = None,
) -> tuple[str | None, str]:
    """The built-in Ollama parser (domain.ollama_parsers) that reads every proof call back from the Go render, for a
    TEMPLATE whose generation prompt ends as that parser assumes on every think setting (unset, on and off: the TEMPLATE
    has the think switch), for a parser that reads thinking; a parser that reads none only for a TEMPLATE without
    thinking (with a PARSER, Ollama no longer reads thinking by the TEMPLATE's tags). Else None, and why each is not."""
    settings = {c.ollama.think for c in cases}
    thinks = go.tags(template).thinking if thinks is None else thinks
    renders = go.render(template, [c.ollama for c in cases]) if renders is None else renders
    prompts = [(c, o) for c, o in zip(cases, renders, strict=True) if c.ollama.messages[-1].role != "assistant"]
    why = []
    for name, parser in PARSERS.items():

        def reads(text: str, case: CheckCase, message: ChatMessage) -> bool:
            want = [(c.name, json.loads(c.arguments)) for c in message.tool_calls]
            return parser.calls(text, case.ollama.tools) == want  # noqa: B023

        ends = parser.ends
        if ends is None and (settings != {None} or thinks):
            why.append(f"{name} reads no thinking and this TEMPLATE thinks")
        elif ends is not None and not (
            settings >= {None, True, False} and all(o.text is not None and ends(o.text, c.ollama.think) for c, o in prompts)
        ):
            why.append(f"{name} assumes {parser.assumes}")
        elif _parse_back(renders, cases, reads) is not None:
            why.append(f"{name} does not read these calls")
        else:
            return name, ""
    return None, "; ".join(why)


def _thinking(render: Render, bos: str | None, learned: ToolStructure, plain: Thinking) -> Thinking:
    """The tools-on layout with the reasoning and switch the plain one has."""
    if plain.reasoning is None and plain.tails is None:
        return Thinking(structure=learned.chat)
    structures = (lambda x: derive_tools(bound(render, x), bos).chat) if plain.tails else None
    observations = (lambda: reasoning_observations(render, bos, learned)) if plain.reasoning else list
    keep = {"calls": learned.content_at if learned.content else len(learned.opening)}
    # the reasoning under each setting, as the plain layout learns it (a setting may show reasoning the unset one drops)
    at = (lambda x: reasoning_observations(bound(render, x), bos, learned)) if plain.reasoning and plain.tails else None
    return learn(learned.chat, observations, structures, keep, at)


def tools_template(
    render: Render,
    go: GoTemplateRenderer,
    bos: str | None,
    plain: Thinking,
    system: str | None,
    days: Sequence[datetime.date | None],
    frozen: datetime.date | None,
) -> ToolsOutcome:
    """The TEMPLATE with tools, proven; or a refusal in one line (see the module docstring). `plain` is the plain
    layout with its thinking, which the tools-on layout gets too."""
    try:
        learned = derive_tools(render, bos)
        thinking = _thinking(render, bos, learned, plain)
        learned = attrs.evolve(learned, chat=thinking.structure)
        template = emit_with_tools(plain.structure, learned, frozen, plain.extension, thinking.extension)
    except TemplateNotDerivable as exc:
        return ToolsOutcome(refusal=str(exc))
    except TemplateRejected as exc:
        return ToolsOutcome(refusal=f"the template fails on a tool conversation ({exc})")
    cases = [c for x in plain.settings for c in tool_cases(system, days, x, reasoning=thinking.reasoning is not None)]
    renders = go.render(template, [c.ollama for c in cases])  # once: the proof, the tag rule and each parser read it
    mismatches = check_tools(render, go, bos, template, cases, renders)
    if mismatches:
        one_call = next(c for c in cases if c.name.startswith(ONE_CALL))
        why = escaped_arguments(jinja_outcome(render, bos, one_call).text or "", CALL)
        return ToolsOutcome(
            refusal=f"its Go translation renders {len(mismatches)} of {len(cases)} tool conversations differently ({why or mismatches[0]})"
        )
    tags = go.tags(template)
    tag = tags.tool_call
    written = 1 if learned.first_call_only else None  # the template writes a message's first call only

    def reads(text: str, case: CheckCase, message: ChatMessage) -> bool:
        return parses_back(text, tag, message.tool_calls[:written], offered_names(case.ollama.tools))

    failing = _parse_back(renders, cases, reads)
    parser, unread = builtin_parser(go, template, cases, renders, tags.thinking) if failing and learned.args else (None, "")
    if failing and not parser:
        how = " one argument at a time, not as a JSON object," if learned.args else ""
        return ToolsOutcome(
            refusal=f"the template writes calls{how} where Ollama's tool-call parser, which reads a JSON object after the tag"
            f" {tag!r}, would not find them ({failing})"
            + (f", nor would a built-in parser hubship models ({unread})" if learned.args else "")
        )
    moved = tuple(dict.fromkeys(n for _, messages in TOOL_CONVERSATIONS.values() for n in reordered(messages)))
    return ToolsOutcome(
        template=template,
        cases=len(cases),
        tag=tag,
        structure=learned,
        reordered=moved,
        refusals=thinking.refusals,
        thinking=thinking,
        parser=parser or "",
    )
