"""The chat template a GGUF carries where Ollama 0.30.0+ would keep a model on a TEMPLATE without tools only because it
reads no thinking from a chat template that reasons without the literal `<think>` (domain.ollama_runtime.thinking_hint),
and the proof that decides whether the GGUF keeps it (docs/adr/026-ollama-thinking-hint.md).

The decision is made on the TEMPLATE the Hub repo's Ollama files carry (application.formats.gguf_hub_ollama, one
derivation per publish): none where no TEMPLATE ships. The GGUF is converted with the hinted template; llama-server then
renders the tool conversations with it as Ollama would hand them over, with each think value Ollama can send to a model
it reads as thinking (unset, which it turns on, on and off). Only where each renders as the checkpoint's own template
does in transformers does the GGUF keep it; else the caller converts again with the checkpoint's template as it is, and
Ollama keeps the model on its TEMPLATE, as before. Where llama-server is not built here, no hint is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.ollama_runtime_check import harmony_of, tool_proof
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.ollama_runtime import OLLAMA_VERSION, thinking_hint

DROPPED = (
    "the GGUF carries the checkpoint's chat template as it is: with a comment naming <think> and </think> before it,"
    " Ollama {version}+ would render this model with it in llama.cpp, {why}"
)
DIFFERS = "where {why}"
UNSERVED = "which could not be proven here (llama-server did not serve the GGUF: {why})"


@attrs.frozen
class ThinkingHint:
    """`template` the chat template to convert with (THINKING_HINT first); `made` the Hub Ollama files (an OllamaFiles:
    the profile and the derivation, as a Hub pull gets it) its proof renders with."""

    template: str
    made: Any

    def proof(self, services: Mapping[str, Any], gguf: Path) -> str:
        """"" where llama-server renders every tool conversation of `gguf` (converted with `template`) as transformers
        renders the checkpoint's template, else why not, for the card; stops llama-server."""
        served = services["served_chat"]
        try:
            _, why = tool_proof(services["chat_renderer"], served, self.made.profile, self.made.derived, gguf, thinking=True)
            said = DIFFERS.format(why=why) if why else ""
        except (UserInputError, PublishError) as exc:  # it did not start or answer
            said = UNSERVED.format(why=exc)
        finally:
            served.close()
        return DROPPED.format(version=OLLAMA_VERSION, why=said) if said else ""


def thinking_hint_for(made: Any, model_type: str, served: Any) -> ThinkingHint | None:
    """The hint for a GGUF whose Hub Ollama files are `made` (an OllamaFiles), or None where it needs none, no TEMPLATE
    ships, or `served` (a ServedChat) cannot prove it here."""
    if not made.files:
        return None
    chat, derived = made.profile.template or "", made.derived
    hinted = thinking_hint(chat, derived.template, derived.capabilities, derived.parser, harmony_of(model_type, derived.template))
    if hinted == chat or not served.available():
        return None
    return ThinkingHint(hinted, made)
