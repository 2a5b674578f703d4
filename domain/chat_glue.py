"""Split probe renders into glue strings, and find the fewest position features that make the glue consistent.

Each accepted render is cut at its message contents (sentinels) into glue strings; each glue string
belongs to a slot: the previous shown kind, the next kind (or the tail), whether that message is the
conversation's last (or, with `later`, an assistant message after the last user message), whether the
conversation opens with a system message. `glue_table` tries the
feature sets from none to all (FEATURES) and returns the first under which every slot has one text.
A floating leading system message (written inside a later glue string, or dropped, depending on the
position: Mistral's system prompt in the last user turn) is cut out as SYSTEM_SLOT.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hubship.domain.chat_template import (
    FEATURES,
    SYSTEM0,
    SYSTEM_SLOT,
    GlueKey,
    Observation,
    TemplateNotDerivable,
    glue_key,
    kinds_of,
    sentinel,
)

Slot = tuple[str, str, bool, bool]
"""(previous shown kind or "", next kind or "" for the tail, next is the last message, opens with a system message)"""


def floats(accepted: Sequence[Observation]) -> bool:
    """Whether a leading system message is sometimes dropped or written after a later message's content."""
    for obs in accepted:
        if obs.roles[0] != "system" or len(obs.roles) < 2:
            continue
        text = obs.text or ""
        if sentinel(0) not in text or (sentinel(1) in text and text.find(sentinel(0)) > text.find(sentinel(1))):
            return True
    return False


def is_last(i: int, kinds: Sequence[str], later: bool) -> bool:
    """Whether message `i` has the `last` feature: the final message; with `later` also an assistant message (`calls`,
    `assistant*`...) after the last user message (ChatStructure.later)."""
    if i == len(kinds) - 1:
        return True
    after = i > max((j for j, k in enumerate(kinds) if k.rstrip("!") == "user"), default=-1)
    return later and after and kinds[i].rstrip("*+") in ("assistant", "calls")


def split(obs: Observation, hidden: frozenset[str], floating: bool, later: bool = False) -> list[tuple[Slot, str]]:
    """The render's glue strings with their slots (`later`: see is_last); raises TemplateNotDerivable on reordered or
    repeated contents."""
    text = obs.text or ""
    kinds = kinds_of(obs.roles)
    system = obs.roles[0] == "system"
    if floating and system:
        if text.count(sentinel(0)) > 1:
            raise TemplateNotDerivable(f"the template repeats the content of a system message in {'/'.join(obs.roles)}")
        text = text.replace(sentinel(0), SYSTEM_SLOT)
    shown = [(i, k) for i, k in enumerate(kinds) if k not in hidden and not (floating and k == SYSTEM0)]
    found: list[tuple[Slot, str]] = []
    cursor, prev = 0, ""
    for i, kind in shown:
        mark = sentinel(i)
        if text.count(mark) != 1:
            problem = "repeats" if text.count(mark) > 1 else "leaves out"
            raise TemplateNotDerivable(f"the template {problem} the content of a {kind} message in {'/'.join(obs.roles)}")
        at = text.find(mark)
        if at < cursor:
            raise TemplateNotDerivable(f"the template moves message contents out of order in {'/'.join(obs.roles)}")
        found.append(((prev, kind, is_last(i, kinds, later), system), text[cursor:at]))
        cursor, prev = at + len(mark), kind
    found.append(((prev, "", True, system), text[cursor:]))
    return found


def _where(slot: Slot) -> str:
    prev, kind = slot[0], slot[1]
    if not prev:
        return f"before a first {kind} message"
    return f"after a last {prev} message" if not kind else f"between a {prev} and a {kind} message"


def _table(slots: Sequence[tuple[Slot, str]], features: Sequence[str]) -> dict[GlueKey, str]:
    table: dict[GlueKey, str] = {}
    for (prev, kind, last, system), text in slots:
        key = glue_key(prev, kind, last=last, system=system, features=features)
        if table.setdefault(key, text) != text:
            where = _where((prev, kind, last, system))
            raise TemplateNotDerivable(f"the text {where} depends on more than the roles (e.g. {table[key]!r} vs {text!r})")
    return table


def glue_table(slots: Sequence[tuple[Slot, str]]) -> tuple[tuple[str, ...], dict[GlueKey, str]]:
    """The smallest feature set under which each slot has one text, and that table; raises the
    featureless attempt's TemplateNotDerivable when none explains every render."""
    first: TemplateNotDerivable | None = None
    for size in range(len(FEATURES) + 1):
        for features in itertools.combinations(FEATURES, size):
            try:
                return features, _table(slots, features)
            except TemplateNotDerivable as exc:
                first = first or exc
    assert first is not None
    raise first
