"""Learn what a chat template's think switch (`enable_thinking`) changes, as one structure with switch points.

The structure is learned under each setting (unset, on, off). Templates differ in where the switch acts: Qwen3 only
changes the generation prompt; SmolLM3 and Apertus write it in the system turn ("Reasoning Mode: /think",
"Deliberation: enabled"); DeepSeek V3.2/V4 and Reka write an empty think block before the last assistant message;
gemma-4 opens a system turn of its own. All are the same thing here: the glue strings (position features unified
over the settings) that differ between settings keep their common beginning and end, and the part between becomes a
switch point (SWITCH marker) with one text per setting, which the Go TEMPLATE picks by Ollama's `.Think` and
`.IsThinkSet` (go_thinking). The switch must not change which messages are shown or rejected, nor a date, the
floating system message or reasoning inside a switch point (TemplateNotDerivable, one line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from hubship.domain.chat_template import FEATURES, ChatStructure, GlueKey, TemplateNotDerivable
from hubship.domain.chat_thinking import opening_at, own

Setting = bool | None
Switch = dict[str, dict[Setting, str]]
"""Each SWITCH marker in the glue with its text per setting."""

_BLOCKS = re.compile("\x00HUBSHIPTHINK[A-Z]\x00")
"""Reasoning blocks (chat_thinking.block_mark) may be inside a switch point: the switch can drop reasoning."""
_TOKENS = re.compile(r"HUBSHIPDATE\[.*?\]X|\x00HUBSHIP[A-Z]+\x00|.", re.DOTALL)


def switch_mark(n: int) -> str:
    return f"\x00HUBSHIPSWITCH{chr(ord('A') + n // 26)}{chr(ord('A') + n % 26)}\x00"


def _concrete(key: GlueKey, features: tuple[str, ...]) -> list[GlueKey]:
    """`key` as keys under `features` (a feature it leaves open takes both values)."""
    prev, kind, last, system = key
    lasts = (True, False) if "last" in features and last is None else (last,)
    systems = (True, False) if "system" in features and system is None else (system,)
    return [(prev, kind, a, b) for a in lasts for b in systems]


def _text(s: ChatStructure, key: GlueKey) -> str | None:
    """The glue of `s` at the concrete `key` (reasoning glue is kept under its own features, chat_thinking)."""
    prev, kind, last, system = key
    for k in ((prev, kind, last, system), (prev, kind, None, system), (prev, kind, last, None), (prev, kind, None, None)):
        if k in s.glue:
            return s.glue[k]
    return None


def _has(s: ChatStructure, key: GlueKey) -> bool:
    """Whether `s` has glue between the kinds of `key` at all (reasoning glue learned under one setting only is used
    for every setting)."""
    return any(k[:2] == key[:2] for k in s.glue)


def _split(texts: Mapping[Setting, str]) -> tuple[str, dict[Setting, str], str]:
    """The common beginning, the differing middles and the common end, cut between markers and tags, never inside one."""
    tokens = {x: _TOKENS.findall(t) for x, t in texts.items()}
    rows = list(tokens.values())
    start = 0
    while all(len(r) > start for r in rows) and len({r[start] for r in rows}) == 1:
        start += 1
    end = 0
    while all(len(r) - end > start for r in rows) and len({r[len(r) - end - 1] for r in rows}) == 1:
        end += 1
    first = rows[0]
    head, tail = first[:start], first[len(first) - end :]
    opened = max((i for i, t in enumerate(head) if t == "<"), default=-1)
    if opened >= 0 and ">" not in head[opened:]:  # tags are not cut: `<think>` and `</think>`, not `think>` and `/think>`
        start = opened
    closed = next((i for i, t in enumerate(tail) if t in "<>"), None)
    if closed is not None and tail[closed] == ">":
        end -= closed + 1
    middles = {x: "".join(r[start : len(r) - end]) for x, r in tokens.items()}
    return "".join(first[:start]), middles, "".join(first[len(first) - end :])


def _same(structures: Mapping[Setting, ChatStructure]) -> None:
    plain = structures[None]
    for field, what in (
        ("hidden", "which messages are shown"),
        ("rules", "which conversations are rejected"),
        ("floating_system", "where the system message is written"),
        ("later_system_supported", "which conversations are rejected"),
        ("trimmed", "how contents are trimmed"),
        ("dates", "the dates written"),
        ("later", "the text before assistant messages after the last user message"),
    ):
        if any(getattr(s, field) != getattr(plain, field) for s in structures.values()):
            raise TemplateNotDerivable(f"the think switch changes {what}")


def merge_switch(structures: Mapping[Setting, ChatStructure]) -> tuple[ChatStructure, Switch | None]:
    """One structure for every setting in `structures` (None: unset, the one whose other fields are kept) with switch
    points where their glue differs; the switch None when it changes nothing."""
    plain = structures[None]
    if all(s.glue == plain.glue and s.features == plain.features for s in structures.values()):
        return plain, None
    _same(structures)
    features = tuple(f for f in FEATURES if any(f in s.features for s in structures.values()))
    keys = dict.fromkeys(k for s in structures.values() for key in s.glue for k in _concrete(key, features))
    glue: dict[GlueKey, str] = {}
    switch: Switch = {}
    for key in keys:
        texts = {x: _text(s, key) for x, s in structures.items()}
        seen = {x: t for x, t in texts.items() if t is not None}
        fixed = {f for f, v in zip(("last", "system"), key[2:], strict=True) if v is not None}
        if not seen or any(t is None and fixed <= set(structures[x].features) and _has(structures[x], key) for x, t in texts.items()):
            continue  # never seen where the key's features are told apart: no conversation has it
        fill = seen.get(None, next(iter(seen.values())))
        full = {x: seen.get(x, fill) for x in structures}
        if len(set(full.values())) == 1:
            glue[key] = fill
            continue
        head, middles, tail = _split(full)
        if any(_BLOCKS.sub("", m).count("\x00") or "HUBSHIPDATE[" in m for m in middles.values()):
            raise TemplateNotDerivable("the think switch changes the text around a date, the system message or reasoning")
        mark = next((m for m, texts in switch.items() if texts == middles), None) or switch_mark(len(switch))
        switch[mark] = middles
        glue[key] = head + mark + tail
    return attrs.evolve(plain, glue=glue, features=features), switch


def switch_places(s: ChatStructure, switch: Switch) -> str:
    """Where the switch acts, in words: the generation prompt, before messages of some kinds."""
    kinds = {key[1].rstrip("*") or "the generation prompt" for key, text in s.glue.items() if any(m in text for m in switch)}
    named = sorted(k if k.startswith("the ") else f"before {k.replace('system0', 'the system')} messages" for k in kinds)
    return ", ".join(named)


def graft_reasoning(s: ChatStructure, merged: ChatStructure, plain: ChatStructure) -> ChatStructure:
    """`s` (a structure under one setting) with the reasoning glue of `merged` (learned with the setting unset from
    `plain`), each changed as the switch changes the glue of the same kinds without reasoning: a guess for layouts
    whose reasoning cannot be observed under each setting, which the render check then proves or refuses."""
    glue = dict(s.glue)
    for key, text in merged.glue.items():
        if not (own(key[0]) or own(key[1])):
            continue
        bare = (key[0].rstrip("*+"), key[1].rstrip("*+"), key[2], key[3])
        before, after = _text(plain, bare), _text(s, bare)
        glue[key] = text
        if before is None or after is None or before == after:
            continue
        head, middles, tail = _split({None: before, True: after})
        if text.startswith(head + middles[None]):
            glue[key] = head + middles[True] + text[len(head + middles[None]) :]
        elif text.endswith(middles[None] + tail):
            glue[key] = text[: len(text) - len(middles[None] + tail)] + middles[True] + tail
    return attrs.evolve(s, glue=glue)


def without_reasoning(s: ChatStructure, merged: ChatStructure) -> ChatStructure:
    """`s` (a structure under a setting that shows no reasoning) with glue for the reasoning kinds of `merged`: the glue
    of the same kinds without reasoning."""
    glue = dict(s.glue)
    for key in merged.glue:
        if own(key[0]) or own(key[1]):
            bare = _text(s, (key[0].rstrip("*+"), key[1].rstrip("*+"), key[2], key[3]))
            if bare is not None:
                glue[key] = bare
    return attrs.evolve(s, glue=glue)


def prompt_tags(s: ChatStructure, switch: Switch) -> tuple[str, str] | None:
    """The thinking tags of a template that drops reasoning in history: an empty pair (`<think>\n\n</think>`) that
    its generation prompt writes under some settings and not under others (SmolLM3, QwQ, DeepSeek-R1 with the switch
    off), as (opening, closing); None if none."""
    for text in (t for key, t in s.glue.items() if not key[1]):
        prompts = []
        for setting in (None, True, False):
            prompt = text
            for mark, texts in switch.items():
                prompt = prompt.replace(mark, texts[setting])
            prompts.append(prompt)
        for prompt in prompts:
            for k in (k for k, ch in enumerate(prompt) if ch == "<" and ">" in prompt[k:]):
                close = prompt[k : prompt.index(">", k) + 1]
                start = opening_at(prompt[:k], close)
                pair = prompt[start : k + len(close)] if start is not None else ""
                if pair and prompt[start:k].strip() != close and any(pair not in p for p in prompts):
                    return prompt[start:k].strip(), close
    return None
