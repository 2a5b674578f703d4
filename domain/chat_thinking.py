"""Learn how a chat template writes reasoning in history and what its thinking switch changes.

Reasoning: the probe conversations are rendered again with a reasoning text on every assistant message (Jinja's
`reasoning_content`, Ollama's `.Thinking`). Templates show it by position: Qwen3 keeps the reasoning of the assistant
turns after the last user message (a tool-calling loop) and drops the older ones; gpt-oss and Apriel keep it for a
final (prefilled) message only. An assistant message whose reasoning is shown becomes its own kind (`assistant*`,
`calls*`), so the glue model learns the text before it with the reasoning in it (REASONING_SLOT); where dropped
reasoning still changes the text (Nemotron 3 leaves a newline) the message is of kind `assistant+`; everything else
must render as without reasoning. The reasoning is written in Go as
`{{ if .Thinking }}<open>{{ .Thinking }}<close>{{ end }}` with raw text around it: Ollama infers a model's thinking
tags from exactly that list, and without them refuses `think` requests.

The switch (`enable_thinking`) is learned in chat_switch. The reasoning block opens with the tag that mirrors its
closing one where the text before the reasoning ends with one (GLM writes `<think>` in the generation prompt, and
`</think>` alone without reasoning): Ollama parses the model's output with these tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from hubship.domain.chat_glue import glue_table, split
from hubship.domain.chat_template import ChatStructure, GlueKey, Observation, TemplateNotDerivable

REASONING_SLOT = "\x00HUBSHIPREASONING\x00"
SETTINGS: tuple[bool | None, ...] = (None, True, False)
SPEAKERS = ("assistant", "calls")
MIRRORS = (("</", "<"), ("END", "START"), ("End", "Start"), ("end", "start"), ("close", "open"), ("CLOSE", "OPEN"))
"""(closing, opening) spellings of a tag pair."""


def reasoning(i: int) -> str:
    return f"HUBSHIPTHINK{i}X"


def block_mark(n: int) -> str:
    return f"\x00HUBSHIPTHINK{chr(ord('A') + n)}\x00"


@attrs.frozen(kw_only=True)
class Reasoning:
    """Where reasoning is shown (its assistant messages are of kind `assistant*`): `before` the last user message,
    `after` it, and in the `last` message (a prefill; gpt-oss and Apriel show only that one); `marked`: where it is
    not shown but changes the glue (kind `assistant+`), as (after, before, last); `blocks` maps each block marker in
    the structure's glue to its (opening, closing) text around the reasoning."""

    after: bool
    before: bool
    last: bool = attrs.field(default=attrs.Factory(lambda self: self.after, takes_self=True))
    marked: tuple[bool, bool, bool] = (False, False, False)
    blocks: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)


def _last_user(kinds: Sequence[str]) -> int:
    return max((i for i, k in enumerate(kinds) if k.rstrip("!") == "user"), default=-1)


def position(i: int, kinds: Sequence[str]) -> str:
    """Where message `i` is: "before" the last user message, "after" it, or "last" (the final message, after it)."""
    last_user = _last_user(kinds)
    return "before" if i < last_user else "last" if i == len(kinds) - 1 else "after"


def _shown(observations: Sequence[Observation]) -> dict[str, bool]:
    seen: dict[str, set[bool]] = {"before": set(), "after": set(), "last": set()}
    for obs in observations:
        for i, kind in enumerate(obs.roles):
            if kind in SPEAKERS:
                seen[position(i, obs.roles)].add(reasoning(i) in (obs.text or ""))
    if any(v == {True, False} for v in seen.values()):
        raise TemplateNotDerivable(
            "the template shows reasoning in history depending on more than its place before or after the last user message"
            " or in the last message"
        )
    seen["after"] = seen["after"] or seen["last"]
    seen["last"] = seen["last"] or seen["after"]
    return {k: True in v for k, v in seen.items()}


def opening_at(left: str, close: str) -> int | None:
    """Where the opening tag that mirrors `close` starts at the end of `left` (`<think>` for `</think>`,
    `<|START_THINKING|>` for `<|END_THINKING|>`, `<|open|>think<|sep|>` for `<|close|>think<|sep|>`); None if none."""
    closing = close.strip()
    starts = [i for i, ch in enumerate(left) if ch == "<"][-4:]
    for start in reversed(starts):
        tag = left[start:].strip()
        if tag and any(b in tag and closing.startswith(tag.replace(b, a, 1)) for a, b in MIRRORS):
            return start
    return None


def _block(text: str, heads: Sequence[str | None], keep: int, blocks: dict[tuple[str, str], str]) -> str:
    """`text` (glue with one REASONING_SLOT) with the reasoning and the tags around it as a block marker: the block
    opens with the tag that mirrors its closing one where there is one (Ollama reads the model's thinking between
    them), else after the first of `heads` that starts it (the glue without reasoning, the generation prompt); the
    last `keep` characters of the text after the reasoning (the opening of tool calls) stay after the block."""
    left, _, right = text.partition(REASONING_SLOT)
    right, end = right[: len(right) - keep], right[len(right) - keep :]
    start = opening_at(left, right)
    head = left[:start] if start is not None else next((h for h in heads if h and left.startswith(h)), left)
    mark = blocks.setdefault((left[len(head) :], right), block_mark(len(blocks)))
    return head + mark + end


class _Around(TemplateNotDerivable):
    """Reasoning changes the glue of a message that does not show it (Nemotron 3 drops older reasoning but writes a
    newline for it)."""


def own(kind: str) -> bool:
    """Whether `kind` is an assistant message with reasoning (`assistant*`, `calls+`...)."""
    return kind.endswith(("*", "+"))


def _slots(base: ChatStructure, observations: Sequence[Observation], shown: Mapping[str, bool], marked: Mapping[str, bool]) -> list:
    """The glue slots of the renders, assistant messages with reasoning where it is `shown` as kinds `assistant*`, at
    `marked` places as `assistant+`."""
    slots = []
    for obs in observations:
        text = obs.text or ""
        kinds = list(obs.roles)
        for i, kind in enumerate(obs.roles):
            where = position(i, obs.roles)
            if kind in SPEAKERS and (shown[where] or marked[where]):
                kinds[i] = kind + ("*" if shown[where] else "+")
                text = text.replace(reasoning(i), REASONING_SLOT)
        slots += split(Observation(tuple(kinds), text, None), base.hidden, base.floating_system, base.later)
    for (prev, kind, last, system), text in slots:
        if not (own(prev) or own(kind)) and base.text(prev, kind, last=last, system=system) != text:
            raise _Around("the template changes the text around other messages when an assistant message has reasoning")
    return slots


def merge_reasoning(
    base: ChatStructure,
    observations: Sequence[Observation],
    keep: Mapping[str, int] | None = None,
    blocks: dict[tuple[str, str], str] | None = None,
) -> tuple[ChatStructure, Reasoning | None]:
    """`base` with the glue before each shown-reasoning kind, from renders with reasoning `reasoning(i)` on every
    assistant message (kinds as in `base`, `calls` for tool calls); None when the template never shows it. `keep`:
    per kind, how many characters at the end of the glue before it are not part of the reasoning block; `blocks`:
    the block markers of earlier merges (one per pair of tags), extended here. Where reasoning changes the glue of
    messages that do not show it, every assistant message with reasoning is its own kind."""
    shown = _shown(observations)
    if not any(shown.values()):
        return base, None
    marked = dict.fromkeys(shown, False)
    try:
        slots = _slots(base, observations, shown, marked)
    except _Around:
        marked = {where: not seen for where, seen in shown.items()}
        slots = _slots(base, observations, shown, marked)
    starred = [(slot, text) for slot, text in slots if own(slot[0]) or own(slot[1])]
    if any(text.count(REASONING_SLOT) != int(slot[1].endswith("*")) for slot, text in starred):
        raise TemplateNotDerivable("the template writes reasoning somewhere other than before its message's content")
    features, table = glue_table(starred)
    blocks = {} if blocks is None else blocks
    glue: dict[GlueKey, str] = {}
    for key, text in table.items():
        prev, kind, system = key[0].rstrip("*+"), key[1].rstrip("*+"), bool(key[3])
        heads = (base.text(prev, kind, last=False, system=system), base.text(prev, "", last=True, system=system))
        glue[key] = _block(text, heads, (keep or {}).get(kind, 0), blocks) if REASONING_SLOT in text else text
    merged = attrs.evolve(
        base, glue={**base.glue, **glue}, features=tuple(f for f in ("last", "system") if f in (*base.features, *features))
    )
    found = Reasoning(
        after=shown["after"], before=shown["before"], last=shown["last"], marked=(marked["after"], marked["before"], marked["last"])
    )
    return merged, attrs.evolve(found, blocks={mark: pair for pair, mark in blocks.items()})
