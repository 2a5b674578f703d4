"""Learn a ChatStructure from a chat template by rendering it on probe conversations (see chat_template).

`derive_structure(render, bos)` renders every probe role order once (dates as markers), splits each
prompt at the sentinel contents into glue strings (chat_glue), and checks that one glue string per slot,
under the fewest position features, and a handful of rejection rules explain every render. Two things
are tried only when the plain model fails: a leading system message that floats into a later turn, and
system messages after the first declared unsupported (some templates drop them at one position and
reject them at another); everything else is then learned without them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import attrs

from hubship.domain.chat_dates import MARKERS, date_formats
from hubship.domain.chat_glue import floats, glue_table, split
from hubship.domain.chat_template import (
    RULES,
    SYSTEM0,
    ChatMessage,
    ChatStructure,
    Observation,
    Render,
    Rule,
    TemplateNotDerivable,
    TemplateRejected,
    kinds_of,
    observe,
    probe_sequences,
    sentinel,
    strip_bos,
    violates,
)
from hubship.domain.chat_whitespace import trimmed_contents

REJECTS_ALL = "the template rejects every conversation"
UNSUPPORTED_LATER_SYSTEM = "hubship: this model's chat template has no consistent place for a system message after the first one"


def _hidden_kinds(accepted: list[Observation], floating: bool) -> frozenset[str]:
    shown: dict[str, set[bool]] = {}
    for obs in accepted:
        for i, kind in enumerate(kinds_of(obs.roles)):
            shown.setdefault(kind, set()).add(sentinel(i) in (obs.text or ""))
    partial = [k for k, seen in shown.items() if seen == {True, False} and not (floating and k == SYSTEM0)]
    if partial:
        raise TemplateNotDerivable(
            f"the template shows a {partial[0].replace(SYSTEM0, 'system')} message in some conversations and drops it in others"
        )
    return frozenset(k for k, seen in shown.items() if seen == {False})


def _rules(observations: list[Observation]) -> tuple[Rule, ...]:
    """The smallest set of rules that rejects exactly the role orders the template rejects."""
    rejected = {o.roles for o in observations if o.rejected}
    for size in range(len(RULES) + 1):
        for names in itertools.combinations(RULES, size):
            if all((o.roles in rejected) == any(violates(n, o.roles) for n in names) for o in observations):
                return tuple(Rule(n, _message(n, names, observations)) for n in names)
    example = next(iter(sorted(rejected)), ())
    raise TemplateNotDerivable(f"the template rejects conversations by a rule hubship cannot express (e.g. {'/'.join(example)})")


def _message(name: str, names: tuple[str, ...], observations: list[Observation]) -> str:
    only = [o for o in observations if o.rejected and [n for n in names if violates(n, o.roles)] == [name]]
    return (only[0].error if only else None) or f"the model's chat template rejects this conversation ({name})"


def _learn(observations: list[Observation], later_system: bool, floating: bool, later: bool = False) -> ChatStructure:
    if not later_system:
        observations = [o for o in observations if "system" not in o.roles[1:]]
    accepted = [o for o in observations if not o.rejected]
    if not accepted:
        raise TemplateNotDerivable(f"{REJECTS_ALL} ({observations[0].error})")
    if floating and not floats(accepted):
        raise TemplateNotDerivable("no floating system message")
    hidden = _hidden_kinds(accepted, floating)
    if {"user", "assistant"} & hidden:
        raise TemplateNotDerivable("the template drops user or assistant messages")
    features, glue = glue_table([slot for obs in accepted for slot in split(obs, hidden, floating, later)])
    if any(key[0] == "assistant" and not key[1] and text for key, text in glue.items()):
        raise TemplateNotDerivable("the template adds text after a prefilled assistant message")
    rules = _rules(observations)
    if not later_system:
        rules = (*[r for r in rules if r.name != "no_later_system"], Rule("no_later_system", UNSUPPORTED_LATER_SYSTEM))
    return ChatStructure(
        glue=glue,
        features=features,
        floating_system=floating,
        hidden=hidden,
        rules=rules,
        later_system_supported=later_system,
        later=later and "last" in features,
    )


def learn_structure(observations: list[Observation], later: bool = False) -> ChatStructure:
    """The structure that explains `observations`, trying the plain model first, then a floating system message and
    later system messages declared unsupported; the first attempt's reason when none does. `later`: ChatStructure.later."""
    first: TemplateNotDerivable | None = None
    for later_system, floating in ((True, False), (True, True), (False, False), (False, True)):
        try:
            return _learn(observations, later_system, floating, later)
        except TemplateNotDerivable as exc:
            first = first or exc
    assert first is not None
    raise first


def _probe_text(render: Render, bos: str | None, messages: Sequence[ChatMessage], **mode: bool) -> str | None:
    try:
        return strip_bos(render(list(messages), **mode, clock=MARKERS), bos)
    except TemplateRejected:
        return None


def _default_system(s: ChatStructure, render: Render, bos: str | None) -> str | None:
    """The system prompt the template writes when none is given: the text D for which a conversation
    renders the same with and without a leading system message D."""
    if SYSTEM0 in s.hidden or s.floating_system:
        return None
    alone = s.text("", "user", last=True, system=False)
    pre, post = s.text("", SYSTEM0, last=False, system=True), s.text(SYSTEM0, "user", last=True, system=True)
    if alone is None or pre is None or post is None or not (alone.startswith(pre) and alone.endswith(post)):
        return None
    if len(alone) < len(pre) + len(post):
        return None
    found = alone[len(pre) : len(alone) - len(post)]
    turns = [ChatMessage("user", sentinel(1)), ChatMessage("assistant", sentinel(2)), ChatMessage("user", sentinel(3))]
    for messages in (turns[:1], turns):
        without = _probe_text(render, bos, messages, add_generation_prompt=True, continue_final=False)
        with_default = _probe_text(render, bos, [ChatMessage("system", found), *messages], add_generation_prompt=True, continue_final=False)
        if without is None or without != with_default:
            return None
    return found


def assistant_end(render: Render, bos: str | None) -> str:
    """What follows a finished assistant turn (its end-of-turn marker and what else the template writes there)."""
    turn = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", sentinel(1))]
    text = _probe_text(render, bos, turn, add_generation_prompt=False, continue_final=False) or ""
    return text.partition(sentinel(1))[2]


def derive_structure(render: Render, bos: str | None) -> ChatStructure:
    """Learn how `render` lays out conversations; raise TemplateNotDerivable (one line) when it cannot be described.
    `bos` is the BOS text the runtime adds itself (None when it adds none): it is cut from every render."""
    observations = [observe(render, roles, bos) for roles in probe_sequences()]
    learned = learn_structure(observations)
    return attrs.evolve(
        learned,
        default_system=_default_system(learned, render, bos),
        trimmed=trimmed_contents(lambda messages, **mode: _probe_text(render, bos, messages, **mode)),
        assistant_end=assistant_end(render, bos),
        bos=bos,
        dates=date_formats([o.text for o in observations if o.text]),
    )
