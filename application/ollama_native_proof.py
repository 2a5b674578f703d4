"""The tool conversations as Ollama 0.30.0+ renders them where it uses the GGUF's own chat template (domain.ollama_runtime):
handed to llama-server as Ollama hands them (domain.ollama_native), rendered by llama.cpp's own C++ Jinja engine, and
compared byte for byte with transformers' render of the same conversation.

This is the runtime Ollama uses, not a stand-in: llama-server built from the pinned source. What it shows that Python's
jinja2 does not: a Jinja feature the C++ engine lacks, the `enable_thinking` llama-server decides itself when the request
sets no `think`, the date it writes where the template reads `date_string`, a system message it folds into a user turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs

from hubship.application.ollama_tools import jinja_outcome
from hubship.domain.chat_template import Render
from hubship.domain.ollama_native import native_messages, native_request, ollama_tool
from hubship.domain.template_check import CheckCase, compare
from hubship.ports.served_chat import ServedChat


def native_case(case: CheckCase) -> CheckCase:
    """`case` as the template sees it on this path: the caller's argument order, the Modelfile SYSTEM as a message, the
    tools as Ollama writes them, no reasoning in history."""
    ollama = case.ollama
    messages = native_messages(ollama.messages, ollama.system)
    return attrs.evolve(
        case, messages=messages, ollama=attrs.evolve(ollama, messages=messages, system="", tools=tuple(map(ollama_tool, ollama.tools)))
    )


@attrs.frozen
class NativeProof:
    """`differences` one line per conversation llama-server renders otherwise than transformers; `rendered` how many
    both render (the rest both refuse). Proven: no difference, and at least one conversation with calls rendered."""

    differences: tuple[str, ...]
    rendered: int
    calls_rendered: bool

    @property
    def proven(self) -> bool:
        return not self.differences and self.calls_rendered


def prove_native(
    render: Render, served: ServedChat, gguf: Path, bos: str | None, cases: Sequence[CheckCase], template: Path | None = None
) -> NativeProof:
    """`cases` rendered by llama-server (serving `gguf`, with the chat template file `template` when given) as Ollama
    hands them over, and by transformers; `bos` the BOS text both cut when the vocabulary adds it."""
    native = [native_case(c) for c in cases]
    expected = [jinja_outcome(render, bos, c) for c in native]
    requests = [native_request(c.ollama.messages, c.ollama.tools, c.ollama.think) for c in native]
    actual = served.apply(gguf, requests, template)
    both = [c for c, e, a in zip(native, expected, actual, strict=True) if e.text is not None and a.text is not None]
    calls = any(m.tool_calls for c in both for m in c.messages)
    return NativeProof(compare(native, expected, actual, by="llama-server"), len(both), calls)
