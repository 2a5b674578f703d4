from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from hubship.domain.chat_template import ChatMessage
from hubship.domain.template_check import RenderOutcome


class ServedChat(Protocol):
    """A GGUF served as a chat model by llama.cpp's own server (its C++ Jinja engine, its tokenizer): the prompt
    a chat completion renders and the ids it evaluates. The GGUF must hold weights: a vocab-only GGUF cannot be served.

    `render` returns the prompt already cut as the server cuts it (a leading BOS text dropped when the vocabulary
    adds BOS, a trailing EOS text when it adds EOS), and `tokenize` adds BOS/EOS as the chat completion does, so
    `tokenize(gguf, [r.text for r in render(...)])` are the ids the server evaluates: do not cut the render again.
    """

    def render(
        self,
        gguf: Path,
        conversations: Sequence[Sequence[ChatMessage]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        thinking: bool | None = None,
    ) -> list[RenderOutcome]:
        """Each conversation as the server's chat completion renders it (generation prompt after a user turn);
        `tools`: OpenAI-style tool definitions sent with it; `thinking`: the template's `enable_thinking` (None: the
        server's default). A conversation the server refuses is a RenderOutcome with its error."""
        ...

    def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
        """Each request body (`messages`, `tools`, `chat_template_kwargs`, as a client sends the server's chat
        completion) rendered by the server's `/apply-template`, cut as `render` cuts; `template` a chat template file
        the server uses instead of the GGUF's own."""
        ...

    def architecture(self, gguf: Path) -> str:
        """The GGUF's `general.architecture`, read from its header (no server is started)."""
        ...

    def available(self) -> bool:
        """Whether the server is built here (`render` and `apply` raise a one-line UserInputError otherwise)."""
        ...

    def chat_template(self, gguf: Path) -> str | None:
        """The GGUF's `tokenizer.chat_template`, read from its header (None when it has none; no server is started)."""
        ...

    def tokenize(self, gguf: Path, texts: Sequence[str]) -> list[list[int]]:
        """The ids the server's chat completion evaluates for each rendered prompt."""
        ...

    def close(self) -> None:
        """Stop every server started (a later call starts them again)."""
        ...
