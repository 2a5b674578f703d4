"""Learn a ChatStructure from a chat template by rendering it on probe conversations (see chat_template).

`derive_structure(render, bos)` renders every probe role order once, splits each prompt at the
sentinel contents into glue strings, and checks that one glue string per (kind, next kind) pair, one
lead per first kind, one tail per last kind and a handful of rejection rules explain every render.
System messages after the first are the usual troublemaker (some templates drop them at one position
and reject them at another); when they alone break the model, they are declared unsupported and
everything else is learned without them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

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

UNSUPPORTED_LATER_SYSTEM = "hubship: this model's chat template has no consistent place for a system message after the first one"


def _split(obs: Observation, hidden: frozenset[str]) -> tuple[list[str], list[str]]:
    """(kinds shown, glue strings around them); raises TemplateNotDerivable on reordered or repeated contents."""
    text = obs.text or ""
    kinds = kinds_of(obs.roles)
    shown = [(i, k) for i, k in enumerate(kinds) if k not in hidden]
    glue, cursor = [], 0
    for i, kind in shown:
        mark = sentinel(i)
        if text.count(mark) != 1:
            problem = "repeats" if text.count(mark) > 1 else "leaves out"
            raise TemplateNotDerivable(f"the template {problem} the content of a {kind} message in {'/'.join(obs.roles)}")
        at = text.find(mark)
        if at < cursor:
            raise TemplateNotDerivable(f"the template moves message contents out of order in {'/'.join(obs.roles)}")
        glue.append(text[cursor:at])
        cursor = at + len(mark)
    glue.append(text[cursor:])
    return [k for _, k in shown], glue


def _hidden_kinds(accepted: list[Observation]) -> frozenset[str]:
    shown: dict[str, set[bool]] = {}
    for obs in accepted:
        for i, kind in enumerate(kinds_of(obs.roles)):
            shown.setdefault(kind, set()).add(sentinel(i) in (obs.text or ""))
    partial = [k for k, seen in shown.items() if seen == {True, False}]
    if partial:
        raise TemplateNotDerivable(
            f"the template shows a {partial[0].replace(SYSTEM0, 'system')} message in some conversations and drops it in others"
        )
    return frozenset(k for k, seen in shown.items() if seen == {False})


def _record(table: dict, key: object, value: str, what: str) -> None:
    if table.setdefault(key, value) != value:
        raise TemplateNotDerivable(f"the text {what} depends on more than the roles (e.g. {table[key]!r} vs {value!r})")


def _glue(accepted: list[Observation], hidden: frozenset[str]) -> tuple[dict, dict, dict]:
    lead: dict[str, str] = {}
    between: dict[tuple[str, str], str] = {}
    tail: dict[str, str] = {}
    for obs in accepted:
        kinds, glue = _split(obs, hidden)
        if not kinds:
            continue
        _record(lead, kinds[0], glue[0], f"before a first {kinds[0]} message")
        for (a, b), text in zip(itertools.pairwise(kinds), glue[1:-1], strict=True):
            _record(between, (a, b), text, f"between a {a} and a {b} message")
        _record(tail, kinds[-1], glue[-1], f"after a last {kinds[-1]} message")
    return lead, between, tail


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


def _learn(observations: list[Observation], later_system: bool) -> ChatStructure:
    if not later_system:
        observations = [o for o in observations if "system" not in o.roles[1:]]
    accepted = [o for o in observations if not o.rejected]
    if not accepted:
        raise TemplateNotDerivable(f"the template rejects every conversation ({observations[0].error})")
    hidden = _hidden_kinds(accepted)
    if {"user", "assistant"} & hidden:
        raise TemplateNotDerivable("the template drops user or assistant messages")
    lead, between, tail = _glue(accepted, hidden)
    if tail.get("assistant", ""):
        raise TemplateNotDerivable("the template adds text after a prefilled assistant message")
    rules = _rules(observations)
    if not later_system:
        rules = (*[r for r in rules if r.name != "no_later_system"], Rule("no_later_system", UNSUPPORTED_LATER_SYSTEM))
    return ChatStructure(
        lead=lead,
        between=between,
        tail=tail,
        hidden=hidden,
        rules=rules,
        later_system_supported=later_system,
        default_system=None,
        trims_content=False,
        assistant_end="",
        bos=None,
    )


def _default_system(s: ChatStructure) -> str | None:
    """The system prompt the template writes when none is given, if that equals rendering it as a system message."""
    if SYSTEM0 in s.hidden or SYSTEM0 not in s.lead:
        return None
    found = set()
    for kind in ("user", "assistant"):
        if kind in s.lead and (SYSTEM0, kind) in s.between:
            text, pre, post = s.lead[kind], s.lead[SYSTEM0], s.between[(SYSTEM0, kind)]
            if not (text.startswith(pre) and text.endswith(post) and len(text) >= len(pre) + len(post)):
                return None
            found.add(text[len(pre) : len(text) - len(post)])
    return found.pop() if len(found) == 1 else None


def _probe_text(render: Render, bos: str | None, messages: Sequence[ChatMessage], **mode: bool) -> str | None:
    try:
        return strip_bos(render(list(messages), **mode), bos)
    except TemplateRejected:
        return None


def _trims(render: Render, bos: str | None) -> bool:
    padded = [ChatMessage("user", f"  {sentinel(0)} \n"), ChatMessage("assistant", f" \n{sentinel(1)}  "), ChatMessage("user", sentinel(2))]
    text = _probe_text(render, bos, padded, add_generation_prompt=True, continue_final=False)
    return text is not None and any(m.content not in text for m in padded[:2])


def _assistant_end(render: Render, bos: str | None) -> str:
    turn = [ChatMessage("user", sentinel(0)), ChatMessage("assistant", sentinel(1))]
    text = _probe_text(render, bos, turn, add_generation_prompt=False, continue_final=False) or ""
    return text.partition(sentinel(1))[2]


def derive_structure(render: Render, bos: str | None) -> ChatStructure:
    """Learn how `render` lays out conversations; raise TemplateNotDerivable (one line) when it cannot be described."""
    observations = [observe(render, roles, bos) for roles in probe_sequences()]
    try:
        learned = _learn(observations, later_system=True)
    except TemplateNotDerivable as first:
        try:
            learned = _learn(observations, later_system=False)
        except TemplateNotDerivable:
            raise first from None
    return ChatStructure(
        **{
            **{f: getattr(learned, f) for f in ("lead", "between", "tail", "hidden", "rules", "later_system_supported")},
            "default_system": _default_system(learned),
            "trims_content": _trims(render, bos),
            "assistant_end": _assistant_end(render, bos),
            "bos": bos,
        }
    )
