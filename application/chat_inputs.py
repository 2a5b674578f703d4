"""What a chat template needs beyond transformers' conversation to render at all, and the render that gives it.

Most templates render a conversation from `messages` alone. Two conventions are known for the others, tried in
turn when a template rejects every conversation without them:
- EMPTY (Hermes 2 Pro and 3, Command R+ tool use: `for tool in tools` fails on None): `tools=[]` when no tools are
  given, so a request without tools gets what the template writes for an empty list of tools.
- FUNCTIONS (FireFunction v2): the variables `functions` and `datetime`, which transformers never passes. Given as
  llama.cpp gives them (common/chat.cpp): `functions` the tools as JSON indented by 2 ("" without tools), `datetime`
  the day; llama.cpp writes the time of day too ("%b %d %Y %H:%M:%S GMT"), which an Ollama TEMPLATE cannot write, so
  hubship gives the day alone ("%b %d %Y"), from `currentDate` in Go.
The convention is kept in the structure (`ChatStructure.inputs`), so every later render (the proofs) uses it too.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from hubship.domain.chat_dates import Clock, date_marker, strftime
from hubship.domain.chat_learning import REJECTS_ALL, derive_structure
from hubship.domain.chat_template import EMPTY_TOOLS, ChatMessage, ChatProfile, ChatStructure, Render, TemplateNotDerivable
from hubship.ports.chat_renderer import ChatRenderer

EMPTY, FUNCTIONS = "tools=[]", "functions, datetime"
DAY_FORMAT = "%b %d %Y"
NOTES = {
    EMPTY: (
        "the chat template fails on a conversation without tools; for a request without tools the TEMPLATE writes what the"
        " chat template writes for an empty list of tools (`tools=[]`), and the proof renders it so"
    ),
    FUNCTIONS: (
        "the chat template reads the variables `functions` and `datetime`, which transformers does not pass: they are given"
        " as llama.cpp gives them (`functions` the tools as JSON indented by 2, empty without tools), except that"
        f" `datetime` is the day alone ({DAY_FORMAT!r}; llama.cpp adds the time of day, which an Ollama TEMPLATE cannot write)"
    ),
}


def variables(inputs: str, tools: Sequence[str], clock: Clock | None) -> dict[str, Any]:
    """The template variables the convention `inputs` adds for a render with `tools` under `clock` (None: today)."""
    if inputs != FUNCTIONS:
        return {}
    listed = [json.loads(t) for t in tools]
    functions = json.dumps(listed, indent=2, ensure_ascii=False) if listed else ""
    if clock is None:
        day = strftime(datetime.date.today(), DAY_FORMAT)
    else:
        day = date_marker(DAY_FORMAT) if clock.day is None else strftime(clock.day, DAY_FORMAT)
    return {"functions": functions, "datetime": day}


def proof_inputs(inputs: str) -> tuple[Sequence[str], Mapping[str, Any]]:
    """(tools, variables) for the token-level proof's renders (no tools, today) under the convention `inputs`."""
    return (EMPTY_TOOLS if inputs == EMPTY else (), variables(inputs, (), None))


def render_with(renderer: ChatRenderer, profile: ChatProfile, inputs: str = "") -> Render:
    """The profile's template rendered with the convention `inputs` ("" none)."""
    assert profile.template is not None
    template = profile.template

    def render(messages: Sequence[ChatMessage], **mode: Any) -> str:
        tools = mode.get("tools") or ()
        if inputs == EMPTY:
            mode = {**mode, "tools": tools or EMPTY_TOOLS}
        tokens = {**profile.tokens, **variables(inputs, tools, mode.get("clock"))}
        return renderer.render(template, tokens, messages, **mode)

    return render


def learn_base(renderer: ChatRenderer, profile: ChatProfile) -> tuple[Render, ChatStructure]:
    """The render to learn with and the plain structure, with the first convention that makes the template render
    when it rejects every conversation without one (see the module docstring)."""
    try:
        return render_with(renderer, profile), derive_structure(render_with(renderer, profile), profile.runtime_bos)
    except TemplateNotDerivable as exc:
        if not str(exc).startswith(REJECTS_ALL):
            raise
        first = exc
    for inputs in (EMPTY, FUNCTIONS):
        render = render_with(renderer, profile, inputs)
        try:
            return render, attrs.evolve(derive_structure(render, profile.runtime_bos), inputs=inputs)
        except TemplateNotDerivable:
            continue
    raise first from None
