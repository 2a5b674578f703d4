"""The chat template a GGUF carries for Ollama 0.30.0+ to render it with tools in llama.cpp, and the proof that decides
it (docs/adr/026-ollama-thinking-hint.md, docs/adr/027-llama-cpp-template-patch.md).

The candidates are domain.ollama_runtime.gguf_templates': the checkpoint's own template (with THINKING_HINT where
Ollama would otherwise keep the model on a TEMPLATE without tools for want of reading its thinking), then the same
with llama.cpp's engine gaps patched. The decision is made on the TEMPLATE the Hub repo's Ollama files carry
(application.formats.gguf_hub_ollama, one derivation per publish): none where no TEMPLATE ships.

The GGUF is converted with the first; llama-server then renders the tool conversations as Ollama would hand them over,
with each think value Ollama can send (unset, which it turns on for a model it reads as thinking, on and off), and
each must render as the checkpoint's own template does in transformers. Where the first fails, the others are served
from a file beside it (`--chat-template-file`, the same GGUF) in turn; the first that passes is converted in and proven
again in the GGUF itself (`holds`: a file replaces every template llama-server would read from the GGUF), or, where
none does, the checkpoint's own template, and the card says why. Where llama-server does not serve the GGUF at all,
nothing else is tried. Where llama-server is not built here, nothing is rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.ollama_runtime_check import harmony_of, tool_proof
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.llama_cpp_template import is_patched
from hubship.domain.ollama_runtime import OLLAMA_VERSION, gguf_templates, is_hinted, jinja_capabilities

DROPPED = (
    "the GGUF carries the checkpoint's chat template as it is: {what}, Ollama {version}+ would render this model with it"
    " in llama.cpp, {why}"
)
HINT = "with a comment naming <think> and </think> before it"
PATCH = "with llama.cpp's Jinja gaps patched"
DIFFERS = "where {why}"
UNSERVED = "which could not be proven here (llama-server did not serve the GGUF: {why})"


def _what(template: str) -> str:
    return " and ".join(w for w, on in ((HINT, is_hinted(template)), (PATCH, is_patched(template))) if on)


@attrs.frozen
class GgufChatTemplate:
    """`templates` the candidates, best first (the GGUF is converted with the first); `made` the Hub Ollama files (an
    OllamaFiles: the profile and the derivation, as a Hub pull gets it) the proof renders with."""

    templates: tuple[str, ...]
    made: Any

    @property
    def template(self) -> str:
        return self.templates[0]

    def proof(self, services: Mapping[str, Any], gguf: Path) -> tuple[str | None, str]:
        """(the template the GGUF must carry: the first whose tool conversations llama-server renders as transformers
        renders the checkpoint's, None for the checkpoint's own where none does; why the last rewritten one was not
        kept, for the card, or ""); `gguf` converted with the first. Where llama-server does not serve the GGUF with
        the first, the others are not tried (a model it cannot load or answer for in time, the usual cause, fails them
        alike). Stops llama-server."""
        dropped, rewritten = "", next(t for t in reversed(self.templates) if _what(t))  # gguf_templates: one at least
        for n, template in enumerate(self.templates):
            file = None if n == 0 else gguf.with_name(f"{gguf.name}.chat-template-{n}.jinja")
            why, answered = self._why(services, gguf, template, file)
            if not why:
                return template, ""
            if _what(template) or not answered:  # the card says why the last rewrite was not kept
                dropped = DROPPED.format(what=_what(rewritten), version=OLLAMA_VERSION, why=why)
            if not answered:
                break
        return None, dropped

    def holds(self, services: Mapping[str, Any], gguf: Path, template: str) -> str:
        """ "" where `gguf`, converted with `template` (proven from a file by `proof`), renders as the file did: what
        llama-server reads from the GGUF itself (its other named templates, as `tool_use`, which a file replaces) can
        differ. Else why not, for the card. Stops llama-server."""
        why, _ = self._why(services, gguf, template, None)
        return DROPPED.format(what=_what(template), version=OLLAMA_VERSION, why=why) if why else ""

    def _why(self, services: Mapping[str, Any], gguf: Path, template: str, file: Path | None) -> tuple[str, bool]:
        """("" where llama-server renders `template` (in the GGUF, or served from `file`) as transformers does, else
        why not; whether it answered)."""
        served, profile, derived = services["served_chat"], self.made.profile, self.made.derived
        thinking = "thinking" in jinja_capabilities(template)
        try:
            if file is not None:
                file.write_text(template, encoding="utf-8")
            _, why = tool_proof(services["chat_renderer"], served, profile, derived, gguf, thinking, template=file)
            return (DIFFERS.format(why=why) if why else ""), True
        except (UserInputError, PublishError) as exc:  # it did not start or answer
            return UNSERVED.format(why=exc), False
        finally:
            served.close()
            if file is not None:
                file.unlink(missing_ok=True)


def gguf_chat_template_for(made: Any, model_type: str, served: Any) -> GgufChatTemplate | None:
    """The candidates for a GGUF whose Hub Ollama files are `made` (an OllamaFiles), or None where the checkpoint's
    own template is the only one, no TEMPLATE ships, or `served` (a ServedChat) cannot prove them here."""
    if not made.files:
        return None
    chat, derived = made.profile.template or "", made.derived
    harmony = harmony_of(model_type, derived.template)
    found = gguf_templates(chat, derived.template, derived.capabilities, derived.parser, harmony)
    if not found or not served.available():
        return None
    return GgufChatTemplate(found, made)
