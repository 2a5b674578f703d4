"""Write reasoning in history and the thinking switch (chat_thinking) into the Go TEMPLATE, as emitter hooks.

An assistant message with `.Thinking`, in a place where the template shows reasoning (after the last user message,
before it, or both), is of kind `assistant*` (`calls*` with tool calls); its glue holds a block written as
`{{ if .Thinking }}<open>{{ .Thinking }}<close>{{ end }}` with raw text, the list Ollama infers thinking tags from
(`.Thinking` must be a field of the message ranged over in `.Messages`). The switch picks the generation prompts:
`enable_thinking` unset is `.IsThinkSet` false, else it is `.Think`.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubship.domain.chat_template import GlueKey
from hubship.domain.chat_thinking import Reasoning
from hubship.domain.go_template import LAST_USER_HEAD, Extension, go_string

CONDITIONS = {None: "not .IsThinkSet", True: ".Think", False: "not .Think"}


def _raw(text: str) -> str:
    """Raw template text when it can be (Ollama reads tags from raw text only), else a quoted action."""
    if "{{" in text or "}}" in text or not text.strip():
        return "{{ " + go_string(text) + " }}" if text else ""
    return text


def reasoning_extension(r: Reasoning | None) -> Extension:
    if r is None:
        return Extension()
    where = "true" if r.after and r.before else "(gt $i $lastUser)" if r.after else "(lt $i $lastUser)"
    return Extension(
        kinds=("assistant*", "calls*"),
        classify=(f'{{{{- if and $m.Thinking {where} }}}}{{{{ $kind = printf "%s*" $kind }}}}{{{{ end }}}}',),
        slots={mark: "{{ if .Thinking }}" + _raw(o) + "{{ .Thinking }}" + _raw(c) + "{{ end }}" for mark, (o, c) in r.blocks.items()},
        head=LAST_USER_HEAD,
    )


def switch_extension(tails: Mapping[bool | None, Mapping[GlueKey, str]] | None) -> Extension:
    """The generation prompts per think setting (equal ones share a branch; the unset setting's is the fallback)."""
    if not tails:
        return Extension()
    branches = [(CONDITIONS[s], glue) for s, glue in tails.items() if s is not None and glue != tails[None]]
    if len(branches) == 2 and branches[0][1] == branches[1][1]:
        branches = [("and .IsThinkSet", branches[0][1])]
    branches = [(f"and .IsThinkSet ({c})" if c != "and .IsThinkSet" else ".IsThinkSet", g) for c, g in branches]
    return Extension(tails=(*branches, ("", tails[None])))
