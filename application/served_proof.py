"""Conversations as llama-server renders them for a client (domain.served_requests): handed over as Ollama 0.30.0+
hands them where it renders with the GGUF's own chat template, or as an OpenAI-compatible client sends them; rendered by
llama.cpp's own C++ Jinja engine and compared byte for byte with transformers' render of the same conversation.

This is the runtime itself, not a stand-in: llama-server built from the pinned source. What it shows that Python's
jinja2 does not: a Jinja feature the C++ engine lacks or runs otherwise, the `enable_thinking` llama-server decides
itself when the request sets no `think`, the date it writes where the template reads `date_string`, a system message it
folds into a user turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from hubship.application.ollama_tools import jinja_outcome
from hubship.domain.chat_template import Render
from hubship.domain.served_requests import as_sent, native_messages, ollama_tool, served_request
from hubship.domain.template_check import CheckCase, compare
from hubship.ports.served_chat import ServedChat


def native_case(case: CheckCase) -> CheckCase:
    """`case` as the template sees it from Ollama: the caller's argument order, the Modelfile SYSTEM as a message, the
    tools as Ollama writes them, no reasoning in history."""
    ollama = case.ollama
    messages = native_messages(ollama.messages, ollama.system)
    tools = tuple(map(ollama_tool, ollama.tools))
    return attrs.evolve(case, messages=messages, ollama=attrs.evolve(ollama, messages=messages, system="", tools=tools))


def client_case(case: CheckCase) -> CheckCase:
    """`case` as an OpenAI-compatible client sends it: its messages as written (the caller's argument order, reasoning
    kept); a Modelfile SYSTEM has no place here."""
    return attrs.evolve(case, messages=case.ollama.messages)


@attrs.frozen
class ServedProof:
    """`differences` one line per conversation llama-server renders otherwise than transformers; `rendered` how many
    both render (the rest both refuse); `calls_rendered` whether one of those has tool calls. Proven: no difference,
    and something rendered (with calls, where `calls` is asked)."""

    differences: tuple[str, ...]
    rendered: int
    calls_rendered: bool

    def proven(self, calls: bool = True) -> bool:
        return not self.differences and self.rendered > 0 and (self.calls_rendered or not calls)

    @property
    def why(self) -> str:
        """Why it is not proven (with calls): its first difference, or that no conversation with calls renders; "" when
        it is."""
        if self.proven():
            return ""
        return self.differences[0] if self.differences else "no conversation with calls renders"


def prove_served(
    render: Render,
    served: ServedChat,
    gguf: Path,
    bos: str | None,
    cases: Sequence[CheckCase],
    *,
    ollama: bool = True,
    template: Path | None = None,
) -> ServedProof:
    """`cases` rendered by llama-server (serving `gguf`, with the chat template file `template` when given) as Ollama
    (`ollama`) or an OpenAI-compatible client hands them over, and by transformers; `bos` the BOS text both cut when
    the vocabulary adds it."""
    sent = [native_case(c) if ollama else client_case(c) for c in cases]
    expected = [jinja_outcome(render, bos, c) for c in sent]
    # llama.cpp decides once per template (its probe) whether to decode a call's arguments: a template that fails on
    # decoded arguments in every conversation with calls gets their text, as llama.cpp hands it such a template
    called = [i for i, c in enumerate(sent) if any(m.tool_calls for m in c.messages)]
    if called and all(expected[i].text is None for i in called):
        for i in called:
            expected[i] = jinja_outcome(render, bos, attrs.evolve(sent[i], messages=as_sent(sent[i].messages, ollama)))
    requests = [served_request(c.messages, c.ollama.tools, c.ollama.think, ollama=ollama) for c in sent]
    actual = served.apply(gguf, requests, template)
    both = [c for c, e, a in zip(sent, expected, actual, strict=True) if e.text is not None and a.text is not None]
    calls = any(m.tool_calls for c in both for m in c.messages)
    return ServedProof(compare(sent, expected, actual, by="llama-server"), len(both), calls)
