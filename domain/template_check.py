"""The render-equivalence check: conversations rendered by the Jinja template and by the derived Go one.

Each conversation is rendered the way a chat server needs it (a generation prompt after a user turn,
a prefill after an assistant one). The Jinja render, minus the BOS llama.cpp adds itself, must equal
the Go render byte for byte; a conversation the Jinja template rejects must make the Go template fail.
When the template has a default system prompt, every conversation without a system message is also
rendered with the Modelfile's SYSTEM injected, as Ollama does. Each case is rendered on given days:
Jinja's `strftime_now` and Go's `currentDate` answer that day, so a template that writes the date is
proven on two days other than the one it was derived on.

Contents never start or end with whitespace: templates that trim contents (Llama-3, Gemma) differ from
Ollama there by design, and that difference is reported as a note instead (chat_whitespace).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

import attrs

from hubship.domain.chat_dates import Clock
from hubship.domain.chat_template import ChatMessage, probe_sequences, sentinel


def _conv(*pairs: tuple[str, str]) -> tuple[ChatMessage, ...]:
    return tuple(ChatMessage(role, content) for role, content in pairs)


SPECIAL = "Braces {{ .Content }} {% if x %}{{- '{{' -}}{% endif %} and \"double\" 'single' quotes"
MULTILINE = "Line one\nLine two\n\n\tindented \\ backslash\r\nend"
UNICODE = "Unicode: héllo wörld — 日本語 🤖 ∑x≠y «ok»"
CONVERSATIONS: dict[str, tuple[ChatMessage, ...]] = {
    "single turn": _conv(("user", "Hello! What is 2+2?")),
    "single turn with system": _conv(("system", "You are a terse assistant."), ("user", "Hello!")),
    "multi-turn": _conv(("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")),
    "multi-turn with system": _conv(
        ("system", "You answer in French."),
        ("user", "Hi"),
        ("assistant", "Bonjour !"),
        ("user", "How are you?"),
        ("assistant", "Très bien."),
        ("user", "Bye"),
    ),
    "long multi-turn with system": _conv(
        ("system", "Keep answers short."),
        *((role, f"Turn {i}: {'question' if role == 'user' else 'answer'}") for i in range(7) for role in ("user", "assistant")),
        ("user", "Last question"),
    ),
    "special characters": _conv(("user", SPECIAL), ("assistant", MULTILINE), ("user", UNICODE)),
    "special characters with system": _conv(("system", MULTILINE), ("user", SPECIAL)),
    "prefill": _conv(("user", "Write a haiku."), ("assistant", "Autumn moonlight")),
}


REASONING_CONVERSATIONS: dict[str, tuple[ChatMessage, ...]] = {
    "reasoning in an answered turn": (
        ChatMessage("user", "What is 2+2?"),
        ChatMessage("assistant", "4", thinking="2 + 2 = 4, no tools needed."),
        ChatMessage("user", "And 3+3?"),
    ),
    "reasoning before a prefill": (
        ChatMessage("user", "Solve x+1=2."),
        ChatMessage("assistant", "x = 1", thinking="Subtract 1 from both sides."),
    ),
    "reasoning in two answered turns": (
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!", thinking="A greeting: answer {{ .Content }} «kindly»."),
        ChatMessage("user", "What is 2+2?"),
        ChatMessage("assistant", "4", thinking="Add.\nEasy."),
        ChatMessage("user", "Thanks"),
    ),
    "reasoning in every turn with system, before a prefill": (
        ChatMessage("system", "Think first."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!", thinking="A greeting."),
        ChatMessage("user", "What is 3+3?"),
        ChatMessage("assistant", "6", thinking="Add again."),
    ),
}
"""Reasoning in history (Jinja's `reasoning_content`, Ollama's `.Thinking`), checked when the template shows it."""


@attrs.frozen
class OllamaCase:
    """What Ollama receives: the request's messages, the Modelfile's SYSTEM ("" for none), the day
    `currentDate` answers (YYYY-MM-DD; None: the real day), the request's `tools` (JSON texts) and `think`
    (None: not set)."""

    messages: tuple[ChatMessage, ...]
    system: str = ""
    date: str | None = None
    tools: tuple[str, ...] = ()
    think: bool | None = None


@attrs.frozen
class RenderOutcome:
    """A render: its text, or the error that stopped it (`text` is None then)."""

    text: str | None = None
    error: str | None = None


@attrs.frozen
class CheckCase:
    """`rejected_by_design`: hubship's template rejects it on purpose (a later system message the chat
    template places inconsistently), so the Go render must fail whatever Jinja does."""

    name: str
    messages: tuple[ChatMessage, ...]
    ollama: OllamaCase
    rejected_by_design: bool = False
    clock: Clock | None = None


@attrs.frozen
class TemplateTags:
    """What Ollama reads from a TEMPLATE's parse tree to handle the model's output: the tag its tool calls start with
    (`{` when the TEMPLATE gives none), and the tags around its thinking ("" when Ollama finds none: then the model
    has no `thinking` capability)."""

    tool_call: str = "{"
    thinking_open: str = ""
    thinking_close: str = ""

    @property
    def thinking(self) -> bool:
        return bool(self.thinking_open and self.thinking_close)


@attrs.frozen(kw_only=True)
class CheckReport:
    """`status`: passed, failed or skipped (no Go); `mismatches` one line each."""

    status: str
    cases: int = 0
    mismatches: tuple[str, ...] = ()
    reason: str = ""
    go_version: str | None = None

    def summary(self) -> dict[str, object]:
        data: dict[str, object] = {"template_check": self.status, "template_check_cases": self.cases}
        if self.status == "skipped":
            data["template_check"] = f"skipped: {self.reason}"
        if self.mismatches:
            data["template_check_mismatches"] = len(self.mismatches)
        if self.go_version:
            data["template_check_go"] = self.go_version
        return data


def check_cases(
    default_system: str | None,
    later_system_supported: bool = True,
    days: Sequence[datetime.date | None] = (None,),
    think: bool | None = None,
    conversations: Mapping[str, tuple[ChatMessage, ...]] | None = None,
) -> list[CheckCase]:
    """The probe role orders (sentinel contents) and the named conversations (or `conversations`), each once per SYSTEM
    variant and day, with the think switch `think` (None: not set)."""
    if conversations is None:
        conversations = {"/".join(roles): _conv(*((r, sentinel(i)) for i, r in enumerate(roles))) for roles in probe_sequences()}
        conversations.update(CONVERSATIONS)
    switch = "" if think is None else f" (think {'on' if think else 'off'})"
    cases = []
    for day in days:
        clock, date, on = (Clock(day), day.isoformat(), f" on {day.isoformat()}") if day else (None, None, "")
        for name, messages in conversations.items():
            by_design = not later_system_supported and any(m.role == "system" for m in messages[1:])
            cases.append(CheckCase(name + switch + on, messages, OllamaCase(messages, "", date, think=think), by_design, clock))
            if default_system and messages[0].role != "system":
                injected = OllamaCase(messages, default_system, date, think=think)
                cases.append(CheckCase(f"{name} (Modelfile SYSTEM){switch}{on}", messages, injected, by_design, clock))
    return cases


def difference(expected: RenderOutcome, actual: RenderOutcome, by: str = "Go") -> str | None:
    """None when the renders agree; else one line saying how they differ (`by` names what rendered `actual`)."""
    if expected.text is None or actual.text is None:
        if expected.text is None and actual.text is None:
            return None
        if expected.text is None:
            return f"Jinja rejects it ({expected.error}) but {by} renders it"
        return f"{by} fails ({actual.error}) but Jinja renders it"
    if expected.text == actual.text:
        return None
    pairs = enumerate(zip(expected.text, actual.text, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), min(len(expected.text), len(actual.text)))
    window = slice(max(0, at - 20), at + 20)
    return f"differs at character {at}: Jinja {expected.text[window]!r} vs {by} {actual.text[window]!r}"


def compare(
    cases: Sequence[CheckCase], expected: Sequence[RenderOutcome], actual: Sequence[RenderOutcome], by: str = "Go"
) -> tuple[str, ...]:
    return tuple(f"{c.name}: {d}" for c, e, a in zip(cases, expected, actual, strict=True) if (d := difference(e, a, by)))
