"""Write reasoning in history and the thinking switch (chat_thinking) into the Go TEMPLATE, as emitter hooks.

An assistant message with `.Thinking`, in a place where the template shows reasoning (after the last user message,
before it, the final message), is of kind `assistant*` (`calls*` with tool calls), in a place where reasoning is
dropped but changes the text around the message of kind `assistant+`; its glue holds a block written as
`{{ if .Thinking }}<open>{{ .Thinking }}<close>{{ end }}` with raw text, the list Ollama infers thinking tags from
(`.Thinking` must be a field of the message ranged over in `.Messages`). Each switch point (chat_switch) writes the
text of the request's setting: `enable_thinking` unset is `$.IsThinkSet` false, else it is `$.Think`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hubship.domain.chat_thinking import Reasoning
from hubship.domain.go_template import LAST_USER_HEAD, Extension, go_string

CONDITIONS = {True: "and $.IsThinkSet $.Think", False: "and $.IsThinkSet (not $.Think)"}
"""Inside the range over `.Messages` too: `$` is the request."""
_BLOCK = re.compile("(\x00HUBSHIPTHINK[A-Z]\x00)")


def _literal(text: str) -> str:
    return "{{ " + go_string(text) + " }}" if text else ""


def _raw(text: str) -> str:
    """Raw template text when it can be (Ollama reads tags from raw text only), else a quoted action."""
    if "{{" in text or "}}" in text or not text.strip():
        return _literal(text)
    return text


def _blocks(r: Reasoning | None) -> dict[str, str]:
    blocks = r.blocks if r else {}
    return {mark: "{{ if .Thinking }}" + _raw(o) + "{{ .Thinking }}" + _raw(c) + "{{ end }}" for mark, (o, c) in blocks.items()}


def _where(after: bool, before: bool, last: bool) -> str:
    """A Go condition on message `$i`: before the last user message, after it (not the final message), the final one."""
    final, later = "(eq (len (slice $.Messages $i)) 1)", "(gt $i $lastUser)"
    places = {
        (True, True, True): "true",
        (True, False, True): later,
        (True, False, False): f"(and {later} (not {final}))",
        (False, False, True): f"(and {later} {final})",
        (False, True, False): "(lt $i $lastUser)",
    }
    return places.get((after, before, last)) or f"(or (lt $i $lastUser) {places[(after, False, last)]})"


def reasoning_extension(r: Reasoning | None) -> Extension:
    if r is None:
        return Extension()
    classify = f'{{{{- if and $m.Thinking {_where(r.after, r.before, r.last)} }}}}{{{{ $kind = printf "%s*" $kind }}}}'
    if any(r.marked):
        classify += f'{{{{ else if and $m.Thinking {_where(*r.marked)} }}}}{{{{ $kind = printf "%s+" $kind }}}}'
    return Extension(
        kinds=("assistant*", "calls*", *(("assistant+", "calls+") if any(r.marked) else ())),
        classify=(classify + "{{ end }}",),
        slots=_blocks(r),
        head=LAST_USER_HEAD,
    )


def _go(text: str, blocks: Mapping[str, str]) -> str:
    """Go text for a switch point's text: literals quoted, reasoning blocks as written in the reasoning's glue."""
    return "".join(blocks.get(part, _literal(part)) for part in _BLOCK.split(text))


def _choice(texts: Mapping[bool | None, str], blocks: Mapping[str, str]) -> str:
    """Go text writing the text of the request's think setting (equal texts share a branch; unset is the fallback)."""
    branches = [(CONDITIONS[x], t) for x, t in texts.items() if x is not None and t != texts[None]]
    if len(branches) == 2 and branches[0][1] == branches[1][1]:
        branches = [("$.IsThinkSet", branches[0][1])]
    if not branches:
        return _go(texts[None], blocks)
    out = [("{{ if " if n == 0 else "{{ else if ") + c + " }}" + _go(t, blocks) for n, (c, t) in enumerate(branches)]
    return "".join(out) + ("{{ else }}" + _go(texts[None], blocks) if texts[None] else "") + "{{ end }}"


def switch_extension(switch: Mapping[str, Mapping[bool | None, str]] | None, r: Reasoning | None = None) -> Extension:
    """Each switch point (chat_switch) written as the text of the request's think setting; `r` the reasoning whose
    blocks a switch point may hold (a setting that drops reasoning)."""
    blocks = _blocks(r)
    return Extension(slots={mark: _choice(texts, blocks) for mark, texts in (switch or {}).items()})


def tags_extension(tags: tuple[str, str] | None) -> Extension:
    """Thinking tags declared for Ollama in a block that never renders (the template drops reasoning in history):
    Ollama infers the tags, and so the `thinking` capability, from any `.Thinking` between raw texts in the range."""
    if tags is None:
        return Extension()
    block = "{{ if .Thinking }}" + _raw(tags[0]) + "{{ .Thinking }}" + _raw(tags[1]) + "{{ end }}"
    return Extension(after=("{{- if false }}" + block + "{{ end }}",))
