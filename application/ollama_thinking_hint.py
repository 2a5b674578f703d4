"""The chat template a GGUF carries where Ollama 0.30.0+ would keep a model on a TEMPLATE without tools only because it
reads no thinking from a chat template that reasons without the literal `<think>` (domain.ollama_runtime.thinking_hint),
and the proof that decides whether the GGUF keeps it (docs/adr/026-ollama-thinking-hint.md).

The GGUF is converted with the hinted template; llama-server then renders the tool conversations with it as Ollama
would hand them over (thinking on where Ollama leaves `think` unset, as it does for a model it reads as thinking).
Only where each renders as the checkpoint's own template does in transformers does the GGUF keep it; else the caller
converts again with the checkpoint's template as it is, and Ollama keeps the model on its TEMPLATE, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.ollama_runtime_check import harmony_of, tool_proof
from hubship.application.ollama_template import derive_ollama_template, for_hub
from hubship.domain.chat_template import ChatProfile
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.ollama_runtime import OLLAMA_VERSION, jinja_capabilities, thinking_hint

DROPPED = (
    "the GGUF carries the checkpoint's chat template as it is: with a comment naming <think> and </think> before it,"
    " Ollama {version}+ would render this model with it in llama.cpp, where {why}"
)


@attrs.frozen
class ThinkingHint:
    """`template` the chat template to convert with (THINKING_HINT first); `profile` and `derived` (an OllamaTemplate,
    as a Hub pull gets it) what its proof renders with."""

    template: str
    profile: ChatProfile
    derived: Any

    def proof(self, services: Mapping[str, Any], gguf: Path) -> str:
        """"" where llama-server renders every tool conversation of `gguf` (converted with `template`) as transformers
        renders the checkpoint's template, else why not; stops llama-server."""
        served = services["served_chat"]
        try:
            _, why = tool_proof(services["chat_renderer"], served, self.profile, self.derived, gguf, thinking=True)
        except (UserInputError, PublishError) as exc:  # llama-server not built, or failing on this template
            why = str(exc)
        finally:
            served.close()
        return DROPPED.format(version=OLLAMA_VERSION, why=why) if why else ""


def thinking_hint_for(checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any]) -> ThinkingHint | None:
    """The hint for this checkpoint's GGUF, or None where its chat template needs none (services: chat_renderer,
    go_templates): a derivation is made only for a template Ollama reads tools and no thinking from."""
    renderer = services["chat_renderer"]
    profile = renderer.profile(checkpoint, base)
    chat = profile.template or ""
    if jinja_capabilities(chat) != frozenset({"tools"}):
        return None
    derived = for_hub(derive_ollama_template(renderer, services["go_templates"], profile, allow_generic=True))
    if derived.template is None or derived.check.status != "passed":  # no TEMPLATE is shipped: nothing to move from
        return None
    harmony = harmony_of(base.model_type, derived.template)
    hinted = thinking_hint(chat, derived.template, derived.capabilities, derived.parser, harmony)
    return ThinkingHint(hinted, profile, derived) if hinted != chat else None
