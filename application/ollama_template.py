"""Derive an Ollama TEMPLATE from a checkpoint's chat template, and prove it with Go's text/template.

The derivation renders the Jinja template (ChatRenderer) on probe conversations and learns its
structure (domain.chat_learning); the proof renders every probe role order and a set of named
conversations (special characters, multi-turn, system, prefill) with both the Jinja template and the
derived Go template (GoTemplateRenderer), and wants them byte-identical, on two days when the template
writes the date. A template that cannot be described, or whose Go translation renders any
conversation differently, is not derivable: a UserInputError of one line, unless the caller allows
the generic fallback. `ollama_model` turns a derivation into the Modelfile's fields (TEMPLATE, SYSTEM,
stops and sampling parameters), for any destination that ships them.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import attrs

from hubship.application.chat_inputs import NOTES as INPUT_NOTES
from hubship.application.chat_inputs import learn_base, render_with
from hubship.application.ollama_thinking import Thinking, learn_thinking, thinking_notes
from hubship.application.ollama_tools import ToolsOutcome, jinja_outcome, tools_template
from hubship.domain.chat_dates import CHECK_DAYS, inexpressible
from hubship.domain.chat_template import ChatProfile, ChatStructure, TemplateNotDerivable
from hubship.domain.errors import UserInputError
from hubship.domain.go_template import emit_go_template
from hubship.domain.ollama_model import OllamaModel, date_notes, modelfile_system, sampling_parameters, stop_words, structure_notes
from hubship.domain.ollama_parsers import THINKING
from hubship.domain.template_check import (
    REASONING_CONVERSATIONS,
    CheckCase,
    CheckReport,
    RenderOutcome,
    TemplateTags,
    check_cases,
    compare,
)
from hubship.ports.chat_renderer import ChatRenderer
from hubship.ports.go_template_renderer import GoTemplateRenderer

CHECKED = (
    "the Modelfile's TEMPLATE was derived from this model's own chat template and rendered against it (Go text/template vs"
    " Jinja, byte for byte{trim}) on {cases} conversations: single and multi-turn, with and without a system message, with special"
    " characters, with the generation prompt and as a prefill"
)
TRIM_QUALIFIER = ", for contents without leading or trailing whitespace"
UNCHECKED = "the Modelfile's TEMPLATE was derived from this model's own chat template; the Go/Jinja render check was skipped ({reason})"
OUT_OF_SCOPE = "images are not translated"
TOOLS_PROVEN = (
    "tool calling: the TEMPLATE writes `.Tools`, `.ToolCalls` and tool results as the chat template does, proven byte for byte"
    " on {cases} tool conversations (one and two tools, a tool with every kind of parameter, one and two calls, results, a"
    " final user turn); Ollama finds the"
    " model's calls after the tag {tag!r}{reordered}"
)
TOOLS_PROVEN_PARSER = (
    "tool calling: the TEMPLATE writes `.Tools`, `.ToolCalls` and tool results as the chat template does, proven byte for byte"
    " on {cases} tool conversations (one and two tools, a tool with every kind of parameter, one and two calls, results, a"
    " final user turn); the template writes a call's arguments one at a time, which Ollama's generic tool parser cannot"
    " read, so the Modelfile names Ollama's built-in parser (`PARSER {parser}`, which reads the model's calls and thinking),"
    " and every rendered call is read back by that parser's rule as hubship models it, with the prompt ending as it assumes"
    "{reordered}"
)
HUB_NO_PARSER = (
    "the model's calls are read only by Ollama's built-in parser `{parser}`, which a Hub repo's Ollama files (template,"
    " system, params) cannot name; the `ollama:` destination's Modelfile names it"
)
REORDERED = (
    "; Ollama hands the TEMPLATE call arguments as a Go map, so their keys are written sorted (in the proof, the arguments of"
    " {names} come out in another order than the caller's; the JSON is otherwise the same bytes)"
)
NO_SYSTEM = (
    "the Modelfile has no SYSTEM: the chat template drops its default system prompt when tools are given, so the TEMPLATE"
    " writes that prompt itself when a request has no tools and no system message"
)
NO_TOOLS = (
    "tool calling is not available in this model's Ollama TEMPLATE (Ollama refuses requests with tools where it renders"
    " with the TEMPLATE): {reason}"
)
REJECTED = (
    "a conversation the chat template rejects is refused when Ollama renders its prompt, not when the model is created:"
    " `ollama create` and Hub pulls accept the TEMPLATE (it passes Ollama's template parser), and the chat or generate request"
    ' is answered HTTP 500 with an error naming the chat template\'s own message (`template "<message>" not defined`), which'
    " `ollama run` prints"
)


@attrs.frozen(kw_only=True)
class OllamaTemplate:
    """`template` None: generic (Ollama's own fallback), with the reason in `warnings` (and alone in `refusal`)."""

    template: str | None
    system: str | None
    capabilities: tuple[str, ...] = ("completion",)
    stops: tuple[str, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    check: CheckReport = attrs.field(factory=lambda: CheckReport(status="not run"))
    structure: ChatStructure | None = None
    refusal: str = ""
    parser: str = ""
    plain_template: str | None = None
    plain_thinking: bool = False


def for_hub(derived: OllamaTemplate) -> OllamaTemplate:
    """The derivation as a Hub repo's `template` file can carry it: a Hub pull has no PARSER, so a TEMPLATE whose calls
    only a built-in parser reads gives way to the one without tools (Ollama then refuses tool requests, as it should)."""
    if not derived.parser:
        return derived
    why = NO_TOOLS.format(reason=HUB_NO_PARSER.format(parser=derived.parser))
    return attrs.evolve(
        derived,
        template=derived.plain_template,
        parser="",
        capabilities=("completion", *(["thinking"] if derived.plain_thinking else [])),
        notes=tuple(why if n.startswith("tool calling:") else n for n in derived.notes),
    )


def _jinja(renderer: ChatRenderer, profile: ChatProfile, case: CheckCase, inputs: str = "") -> RenderOutcome:
    if case.rejected_by_design:
        return RenderOutcome(error="rejected by design")
    return jinja_outcome(render_with(renderer, profile, inputs), profile.runtime_bos, case)


def check_template(
    renderer: ChatRenderer,
    go: GoTemplateRenderer,
    profile: ChatProfile,
    template: str,
    structure: ChatStructure,
    days: Sequence[datetime.date | None] = CHECK_DAYS[:1],
    settings: Sequence[bool | None] = (None,),
    reasoning: bool = False,
    modelfile: bool = True,
) -> CheckReport:
    """Render every check conversation with Jinja and with Go, on each of `days` and think `settings` (and the reasoning
    conversations when `reasoning`), with the Modelfile SYSTEM injected unless not `modelfile`; `failed` lists each
    difference."""
    system, later = modelfile_system(structure) if modelfile else None, structure.later_system_supported
    cases = [c for x in settings for c in check_cases(system, later, days, x)]
    if reasoning:
        cases += [c for x in settings for c in check_cases(system, later, days, x, REASONING_CONVERSATIONS)]
    version = go.version()
    if version is None:
        return CheckReport(status="skipped", cases=len(cases), reason="Go is not installed (Debian: apt-get install golang-go)")
    expected = [_jinja(renderer, profile, c, structure.inputs) for c in cases]
    mismatches = compare(cases, expected, go.render(template, [c.ollama for c in cases]))
    return CheckReport(status="failed" if mismatches else "passed", cases=len(cases), mismatches=mismatches, go_version=version)


def _derive(renderer: ChatRenderer, go: GoTemplateRenderer, profile: ChatProfile, frozen: datetime.date | None) -> OllamaTemplate:
    if profile.template is None:
        raise TemplateNotDerivable("the checkpoint has no chat template")
    render, base = learn_base(renderer, profile)
    frozen = frozen if inexpressible(base.dates) else None
    days = (frozen,) if frozen else CHECK_DAYS if base.dates else CHECK_DAYS[:1]
    thinking = learn_thinking(render, profile.runtime_bos, base)
    template = emit_go_template(thinking.structure, frozen, thinking.extension)
    report = check_template(renderer, go, profile, template, base, days, thinking.settings, thinking.reasoning is not None)
    if report.status != "passed" and (thinking.reasoning or thinking.tails):  # keep only what is proven: the layout without thinking
        why = f"its Go translation renders {report.mismatches[0]}" if report.mismatches else f"not proven: {report.reason}"
        thinking = Thinking(structure=base, refusals=(f"reasoning in history and the think switch are not translated ({why})",))
        template = emit_go_template(base, frozen)
        report = check_template(renderer, go, profile, template, base, days)
    structure = attrs.evolve(thinking.structure, inputs=base.inputs)
    if report.status == "failed":
        raise TemplateNotDerivable(
            f"its Go translation renders {len(report.mismatches)} of {report.cases} check conversations differently"
            f" ({report.mismatches[0]})"
        )
    trim = TRIM_QUALIFIER if structure.trimmed else ""
    tools = ToolsOutcome(refusal=f"not proven ({report.reason})")
    tags = TemplateTags()
    system = modelfile_system(structure)
    if report.status == "passed":
        tools = tools_template(render, go, profile.runtime_bos, thinking, system, days, frozen)
        if tools.template is None and system is not None:
            tools, system, report = _without_system(renderer, go, profile, structure, thinking, tools, report, days, frozen)
        tags = go.tags(tools.template or template)
    return OllamaTemplate(
        template=tools.template or template,
        capabilities=(
            "completion",
            *(["tools"] if tools.template else []),
            *(["thinking"] if tags.thinking or tools.parser in THINKING else []),
        ),
        parser=tools.parser,
        plain_template=template if tools.parser else None,
        plain_thinking=go.tags(template).thinking if tools.parser else False,
        system=system,
        stops=stop_words(structure, profile.control_tokens, profile.eos_tokens),
        notes=(
            CHECKED.format(cases=report.cases, trim=trim) if report.status == "passed" else UNCHECKED.format(reason=report.reason),
            *structure_notes(structure),
            *date_notes(structure, frozen, days if report.status == "passed" else ()),
            *([INPUT_NOTES[base.inputs]] if base.inputs else []),
            *([NO_SYSTEM] if structure.default_system and system is None and modelfile_system(structure) else []),
            _tools_note(tools),
            *thinking_notes(thinking, tags, [f"in a conversation with tools, {r}" for r in tools.refusals]),
            OUT_OF_SCOPE,
            REJECTED,
        ),
        check=report,
        structure=structure,
    )


def _without_system(
    renderer: ChatRenderer,
    go: GoTemplateRenderer,
    profile: ChatProfile,
    structure: ChatStructure,
    thinking: Thinking,
    tools: ToolsOutcome,
    report: CheckReport,
    days: Sequence[datetime.date | None],
    frozen: datetime.date | None,
) -> tuple[ToolsOutcome, str | None, CheckReport]:
    """Tools proven without the Modelfile SYSTEM (the TEMPLATE then writes the default system prompt itself, where the
    chat template does: Granite 4.0 drops it when tools are given, which an injected SYSTEM message cannot say), with
    the plain layout proven again without it; else `tools` and the SYSTEM as they were."""
    render = render_with(renderer, profile, structure.inputs)
    bare = tools_template(render, go, profile.runtime_bos, thinking, None, days, frozen)
    if bare.template is None:
        return tools, modelfile_system(structure), report
    plain = check_template(renderer, go, profile, bare.template, structure, days, thinking.settings, thinking.reasoning is not None, False)
    if plain.status != "passed":
        return tools, modelfile_system(structure), report
    return bare, None, plain


def _tools_note(tools: ToolsOutcome) -> str:
    if tools.template is None:
        return NO_TOOLS.format(reason=tools.refusal)
    moved = REORDERED.format(names=", ".join(tools.reordered)) if tools.reordered else ""
    if tools.parser:
        return TOOLS_PROVEN_PARSER.format(cases=tools.cases, parser=tools.parser, reordered=moved)
    return TOOLS_PROVEN.format(cases=tools.cases, tag=tools.tag, reordered=moved)


def derive_ollama_template(
    renderer: ChatRenderer,
    go: GoTemplateRenderer,
    profile: ChatProfile,
    *,
    allow_generic: bool,
    allow_frozen_date: bool = False,
    today: datetime.date | None = None,
) -> OllamaTemplate:
    """The checked Ollama template; raise UserInputError (one line) when it cannot be derived faithfully
    and `allow_generic` is False, else return the generic fallback with a warning. A date format Ollama
    cannot build is frozen at `today` (default: the real day) only with `allow_frozen_date`."""
    frozen = (today or datetime.date.today()) if allow_frozen_date else None
    try:
        return _derive(renderer, go, profile, frozen)
    except TemplateNotDerivable as exc:
        reason = str(exc)
    if not allow_generic:
        raise UserInputError(
            f"cannot derive a faithful Ollama template from the chat template: {reason}; nothing is published to Ollama"
            " (pass --allow-generic-template to publish with Ollama's generic template anyway)"
        )
    warning = (
        f"The Ollama TEMPLATE could not be derived from the model's chat template ({reason}). This model uses Ollama's"
        " generic fallback (its own template detection, else `{{ .Prompt }}`), so chat prompts may not match the ones it was"
        " trained on; use `ollama run` with raw prompts in the training format, or fix the chat template and publish again."
    )
    eos = tuple(e for e in profile.eos_tokens if e and e != profile.runtime_bos)
    return OllamaTemplate(template=None, system=None, stops=eos, warnings=(warning,), check=CheckReport(status="not run"), refusal=reason)


def ollama_model(derived: OllamaTemplate, profile: ChatProfile, *, model_file: str, license: str | None) -> OllamaModel:
    """The Ollama model a derivation gives: TEMPLATE, SYSTEM, the stops and the checkpoint's sampling parameters."""
    return OllamaModel(
        model_file=model_file,
        template=derived.template,
        system=derived.system,
        parser=derived.parser,
        parameters={"stop": list(derived.stops), **sampling_parameters(profile.generation)},
        license=profile.license_text or license,
    )
