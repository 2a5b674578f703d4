from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from hubship.domain.chat_proof import Completion, RuntimeVocab, SpecialToken
from hubship.domain.chat_template import ChatMessage
from hubship.domain.template_check import RenderOutcome


class ChatRuntime(Protocol):
    """llama.cpp serving a GGUF as a chat model: its tokenizer, its embedded chat template as llama-cpp-python
    renders it, the tokens that end generation. A GGUF without weights (vocab only) serves every call but `complete`."""

    def vocab(self, gguf: Path) -> RuntimeVocab:
        """Whether llama.cpp adds BOS and EOS for this GGUF, their texts and the embedded chat template."""
        ...

    def render(self, gguf: Path, conversations: Sequence[Sequence[ChatMessage]]) -> list[RenderOutcome]:
        """The embedded chat template rendered with a generation prompt, as llama-cpp-python's chat API renders it."""
        ...

    def tokenize(self, gguf: Path, texts: Sequence[str], *, add_special: bool) -> list[list[int]]:
        """The ids llama.cpp makes of each text, special tokens parsed; with `add_special`, BOS and EOS added where the
        GGUF says so (llama_tokenize's add_special)."""
        ...

    def special_tokens(self, gguf: Path, text: str) -> list[SpecialToken]:
        """The special (control or user-defined) tokens `text` tokenizes into, in order, each with whether it ends generation."""
        ...

    def complete(self, gguf: Path, messages: Sequence[ChatMessage], max_tokens: int) -> Completion:
        """A greedy chat completion through llama-cpp-python's chat API on the GGUF's own template, with a context
        sized for the rendered prompt and `max_tokens`."""
        ...
