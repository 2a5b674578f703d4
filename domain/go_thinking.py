"""Write reasoning in history and the thinking switch (chat_thinking) into the Go TEMPLATE, as emitter hooks.

An assistant message with `.Thinking`, in a place where the template shows reasoning (after the last user message,
before it, or both), is of kind `assistant*` (`calls*` with tool calls); its glue holds a block written as
`{{ if .Thinking }}<open>{{ .Thinking }}<close>{{ end }}` with raw text, the list Ollama infers thinking tags from
(`.Thinking` must be a field of the message ranged over in `.Messages`). Each switch point (chat_switch) writes the
text of the request's setting: `enable_thinking` unset is `$.IsThinkSet` false, else it is `$.Think`.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubship.domain.chat_thinking import Reasoning
from hubship.domain.go_template import LAST_USER_HEAD, Extension, go_string

CONDITIONS = {True: "and $.IsThinkSet $.Think", False: "and $.IsThinkSet (not $.Think)"}
"""Inside the range over `.Messages` too: `$` is the request."""


def _literal(text: str) -> str:
    return "{{ " + go_string(text) + " }}" if text else ""


def _raw(text: str) -> str:
    """Raw template text when it can be (Ollama reads tags from raw text only), else a quoted action."""
    if "{{" in text or "}}" in text or not text.strip():
        return _literal(text)
    return text


def reasoning_extension(r: Reasoning | None) -> Extension:
    if r is None:
        return Extension()
    final, later = "(eq (len (slice $.Messages $i)) 1)", "(gt $i $lastUser)"
    places = {
        (True, True, True): "true",
        (True, False, True): later,
        (True, False, False): f"(and {later} (not {final}))",
        (False, False, True): f"(and {later} {final})",
        (False, True, False): "(lt $i $lastUser)",
    }
    where = places.get((r.after, r.before, r.last))
    if where is None:
        where = f"(or (lt $i $lastUser) {places[(r.after, False, r.last)]})"
    return Extension(
        kinds=("assistant*", "calls*"),
        classify=(f'{{{{- if and $m.Thinking {where} }}}}{{{{ $kind = printf "%s*" $kind }}}}{{{{ end }}}}',),
        slots={mark: "{{ if .Thinking }}" + _raw(o) + "{{ .Thinking }}" + _raw(c) + "{{ end }}" for mark, (o, c) in r.blocks.items()},
        head=LAST_USER_HEAD,
    )


def _choice(texts: Mapping[bool | None, str]) -> str:
    """Go text writing the text of the request's think setting (equal texts share a branch; unset is the fallback)."""
    branches = [(CONDITIONS[x], t) for x, t in texts.items() if x is not None and t != texts[None]]
    if len(branches) == 2 and branches[0][1] == branches[1][1]:
        branches = [("$.IsThinkSet", branches[0][1])]
    if not branches:
        return _literal(texts[None])
    out = [("{{ if " if n == 0 else "{{ else if ") + c + " }}" + _literal(t) for n, (c, t) in enumerate(branches)]
    return "".join(out) + ("{{ else }}" + _literal(texts[None]) if texts[None] else "") + "{{ end }}"


def switch_extension(switch: Mapping[str, Mapping[bool | None, str]] | None) -> Extension:
    """Each switch point (chat_switch) written as the text of the request's think setting."""
    return Extension(slots={mark: _choice(texts) for mark, texts in (switch or {}).items()})
