"""Thinking in the derived Ollama TEMPLATE: reasoning in history and the think switch, learned from the Jinja template.

`learn_thinking` adds to a learned structure the glue of assistant messages whose reasoning the template shows
(domain.chat_thinking), learned under each think setting when `enable_thinking` changes the renders, and merges the
settings into switch points (domain.chat_switch); a template that drops reasoning but writes an empty think pair under
its switch gets those tags declared for Ollama. Either part that cannot be described is left out with a one-line
reason; the render check then covers each setting and the reasoning conversations (domain.template_check), so what is
kept is proven.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from hubship.domain.chat_learning import derive_structure
from hubship.domain.chat_switch import Switch, graft_reasoning, merge_switch, prompt_tags, switch_places, without_reasoning
from hubship.domain.chat_template import (
    ChatMessage,
    ChatStructure,
    Observation,
    Render,
    TemplateNotDerivable,
    TemplateRejected,
    probe_sequences,
    render_prompt,
    sentinel,
    strip_bos,
)
from hubship.domain.chat_thinking import SETTINGS, Reasoning, merge_reasoning, reasoning
from hubship.domain.go_template import Extension
from hubship.domain.go_thinking import reasoning_extension, switch_extension, tags_extension
from hubship.domain.template_check import TemplateTags


@attrs.frozen(kw_only=True)
class Thinking:
    """`structure` with the reasoning glue and the switch points; `tails` the text of each switch point per think
    setting (None: no switch); `settings` the settings to check; `refusals` what is left out and why; `tags` the
    thinking tags of the generation prompt, declared for Ollama when no reasoning is written."""

    structure: ChatStructure
    reasoning: Reasoning | None = None
    tails: Switch | None = None
    refusals: tuple[str, ...] = ()
    tags: tuple[str, str] | None = None

    @property
    def settings(self) -> tuple[bool | None, ...]:
        return SETTINGS if self.tails else (None,)

    @property
    def extension(self) -> Extension:
        declared = tags_extension(self.tags if self.reasoning is None else None)
        return reasoning_extension(self.reasoning) + switch_extension(self.tails, self.reasoning) + declared


def bound(render: Render, think: bool | None) -> Render:
    """`render` with the think switch set to `think`."""
    return lambda messages, **mode: render(messages, **{**mode, "think": think})


def plain_observations(render: Render, bos: str | None, base: ChatStructure) -> list[Observation]:
    """The probe conversations with reasoning on every assistant message."""
    found = []
    for roles in probe_sequences():
        if not base.later_system_supported and "system" in roles[1:]:
            continue
        messages = [ChatMessage(r, sentinel(i), thinking=reasoning(i) if r == "assistant" else "") for i, r in enumerate(roles)]
        try:
            found.append(Observation(roles, strip_bos(render_prompt(render, messages), bos), None))
        except TemplateRejected:
            continue
    return found


def switches(render: Render, bos: str | None) -> bool:
    """Whether `enable_thinking` changes a render of a short conversation (with or without a reply)."""
    for messages in ([ChatMessage("user", sentinel(0))], [ChatMessage("user", sentinel(0)), ChatMessage("assistant", sentinel(1))]):
        texts = set()
        for think in SETTINGS:
            try:
                texts.add(render_prompt(bound(render, think), messages))
            except TemplateRejected as exc:
                texts.add(f"rejected: {exc}")
        if len(texts) > 1:
            return True
    return False


def learn(
    base: ChatStructure,
    observations: Callable[[], Sequence[Observation]],
    structures: Callable[[bool | None], ChatStructure] | None,
    keep: dict[str, int] | None = None,
    observations_at: Callable[[bool | None], Sequence[Observation]] | None = None,
) -> Thinking:
    """`base` with reasoning (from `observations`) and the switch (the structure under each setting, None: no switch).
    The reasoning is learned under each setting from `observations_at` when given (a setting may show reasoning that
    the unset one drops), else the unset one's is grafted onto the others."""
    refusals, merged, found, switch, blocks = [], base, None, None, {}
    try:
        merged, found = merge_reasoning(base, observations(), keep, blocks)
    except TemplateNotDerivable as exc:
        refusals.append(f"reasoning in history is not written ({exc})")
    if structures is not None:
        at = None if refusals else observations_at  # reasoning refused: the switch alone
        try:
            merged, switch, found = _switch(base, (merged, found), structures, keep, blocks, at)
        except TemplateNotDerivable as exc:
            refusals.append(f"the think switch is not translated ({exc})")
    if found is not None:
        found = attrs.evolve(found, blocks={mark: pair for pair, mark in blocks.items()})
    tags = prompt_tags(merged, switch) if switch and found is None and not refusals else None
    return Thinking(structure=merged, reasoning=found, tails=switch, refusals=tuple(refusals), tags=tags)


def _places_of(r: Reasoning) -> tuple:
    return (r.after, r.before, r.last, r.marked)


def _switch(
    base: ChatStructure,
    unset: tuple[ChatStructure, Reasoning | None],
    structures: Callable[[bool | None], ChatStructure],
    keep: dict[str, int] | None,
    blocks: dict[tuple[str, str], str],
    observations_at: Callable[[bool | None], Sequence[Observation]] | None,
) -> tuple[ChatStructure, Switch | None, Reasoning | None]:
    """One structure for every setting, with its switch points and the reasoning (where any setting shows it)."""
    each: dict[bool | None, tuple[ChatStructure, ChatStructure, Reasoning | None]] = {None: (base, *unset)}
    for x in SETTINGS[1:]:
        s = structures(x)
        each[x] = (s, *merge_reasoning(s, observations_at(x), keep, blocks)) if observations_at else (s, s, None)
    shown = [(m, r) for _, m, r in each.values() if r is not None]
    if any(_places_of(r) != _places_of(shown[0][1]) for _, r in shown):
        raise TemplateNotDerivable("the think switch changes where reasoning in history is written")
    if not shown:
        return (*merge_switch({x: s for x, (s, _, _) in each.items()}), None)
    final = {}
    for x, (s, m, r) in each.items():
        if r is not None:
            final[x] = m
        elif observations_at is None:
            final[x] = graft_reasoning(s, unset[0], base)
        else:
            final[x] = without_reasoning(s, shown[0][0])
    return (*merge_switch(final), shown[0][1])


def learn_thinking(render: Render, bos: str | None, base: ChatStructure) -> Thinking:
    """Thinking for the plain (no tools) layout."""
    structures = (lambda x: derive_structure(bound(render, x), bos)) if switches(render, bos) else None
    return learn(
        base,
        lambda: plain_observations(render, bos, base),
        structures,
        observations_at=lambda x: plain_observations(bound(render, x), bos, base),
    )


REASONING = (
    "thinking: reasoning in history (Ollama's `.Thinking`, Jinja's `reasoning_content`) is written {where}, as the chat"
    " template writes it; Ollama reads the model's thinking between {tags}"
)
SWITCH = (
    "thinking: the think switch (`think` in Ollama's API, `enable_thinking` in the chat template) changes the prompt"
    " where the chat template does ({where}); proven with it unset, on and off"
)


PLACES = {
    (True, True, True): "for every assistant turn",
    (True, True, False): "for every assistant turn but a final one (a prefill)",
    (True, False, True): "for the assistant turns after the last user message (older reasoning is dropped)",
    (True, False, False): "for the assistant turns after the last user message but a final one (older reasoning is dropped)",
    (False, True, True): "for the assistant turns before the last user message and a final one (a prefill)",
    (False, True, False): "for the assistant turns before the last user message",
    (False, False, True): "for a final assistant message (a prefill) only (older reasoning is dropped)",
}
"""Where reasoning is written, by (after, before, last) (chat_thinking.Reasoning)."""


DECLARED = (
    "thinking: the chat template drops reasoning in history, and so does the TEMPLATE; it names the thinking"
    " tags of its generation prompt, {tags}, in a block that never renders, so Ollama accepts `think` and reads the"
    " model's thinking between them"
)
OFF_ONLY = (
    "; Ollama refuses `think: true` for a model without the `thinking` capability (no thinking tags in its TEMPLATE), so"
    " with Ollama's Go template the switch is set with `think: false` or left unset"
)


def _places(r: Reasoning) -> str:
    return PLACES[(r.after, r.before, r.last)]


def thinking_notes(t: Thinking, tags: TemplateTags, more: Sequence[str] = ()) -> list[str]:
    """The card's lines on thinking: where reasoning is written and the tags Ollama reads (`tags`, from the TEMPLATE's
    parse tree), the switch, and what is left out."""
    notes = []
    if t.reasoning is not None:
        where = _places(t.reasoning)
        found = f"{tags.thinking_open!r} and {tags.thinking_close!r}" if tags.thinking else "no tags it can read (no `thinking` capability)"
        notes.append(REASONING.format(where=where, tags=found))
    if t.reasoning is None and t.tags and tags.thinking:
        notes.append(DECLARED.format(tags=f"{tags.thinking_open!r} and {tags.thinking_close!r}"))
    if t.tails:
        notes.append(SWITCH.format(where=switch_places(t.structure, t.tails)) + ("" if tags.thinking else OFF_ONLY))
    return [*notes, *(f"thinking: {r}" for r in (*t.refusals, *more))]
