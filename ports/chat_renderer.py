from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from hubship.domain.chat_dates import Clock
from hubship.domain.chat_template import ChatMessage, ChatProfile
from hubship.domain.checkpoint import BaseInfo, Checkpoint


class ChatRenderer(Protocol):
    """Renders a checkpoint's chat template exactly as transformers' `apply_chat_template` does."""

    def profile(self, checkpoint: Checkpoint, base: BaseInfo) -> ChatProfile:
        """The checkpoint's chat template and tokens (the base's when the checkpoint has none); loads no weights."""
        ...

    def render(
        self,
        template: str,
        tokens: Mapping[str, str],
        messages: Sequence[ChatMessage],
        *,
        add_generation_prompt: bool,
        continue_final: bool,
        clock: Clock | None = None,
        tools: Sequence[str] = (),
        think: bool | None = None,
    ) -> str:
        """The prompt text, with `strftime_now` answering `clock` (None: the real time), `tools` (JSON texts of tool
        definitions) passed as `tools=` and `think` as `enable_thinking=` (None: not passed); raises
        TemplateRejected when the template rejects the conversation, TemplateNotDerivable when the
        template itself is broken."""
        ...

    def token_ids(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        template: str,
        conversations: Sequence[Sequence[ChatMessage]],
        tools: Sequence[str] = (),
        variables: Mapping[str, Any] | None = None,
    ) -> list[list[int] | None]:
        """Per conversation, the ids `apply_chat_template(..., tokenize=True, add_generation_prompt=True)` gives
        with the checkpoint's tokenizer and `template` (the ids training saw), `tools` passed as in `render` and
        `variables` as more template variables; None where the template rejects it."""
        ...
