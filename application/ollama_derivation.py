"""The Ollama model of a checkpoint as a publish ships it: the TEMPLATE derived under the BOS rule of the GGUF
the converter makes of its tokenizer, checked against Jinja, and proven at token level.

One function gives everything a destination needs to ship the derived template with a GGUF (the Modelfile
of an Ollama artifact, or a Hub GGUF repo): `derive_for_gguf` returns the profile, the derivation (TEMPLATE,
SYSTEM, stops, notes) and the token-level proof; `ollama_template.ollama_model` turns the first two into the
Modelfile's fields with the sampling parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.chat_proof import bos_choice, prove_ollama, vocab_gguf
from hubship.application.ollama_template import OllamaTemplate, derive_ollama_template
from hubship.domain.chat_proof import TokenProof
from hubship.domain.chat_template import ChatProfile
from hubship.domain.checkpoint import BaseInfo, Checkpoint


def derive_for_gguf(
    checkpoint: Checkpoint,
    base: BaseInfo,
    services: Mapping[str, Any],
    *,
    allow_generic: bool,
    bos: str,
    allow_frozen_date: bool = False,
    vocab: Path | None = None,
) -> tuple[ChatProfile, OllamaTemplate, TokenProof]:
    """(profile, derivation, proof) with the ports in `services` (chat_renderer, chat_runtime, go_templates, saver,
    converter), under the BOS policy `bos`; raises UserInputError when no faithful template can be derived and
    `allow_generic` is False. `vocab`: the vocab-only GGUF of this checkpoint when the caller already made it (else
    it is converted here)."""
    renderer, runtime, go = services["chat_renderer"], services["chat_runtime"], services["go_templates"]
    choice = bos_choice(renderer, checkpoint, base, bos)
    vocab = vocab or vocab_gguf(checkpoint, base, services, choice)  # the tokenizer and the add_bos_token the GGUF gets
    profile = attrs.evolve(renderer.profile(checkpoint, base), add_bos=runtime.vocab(vocab).add_bos)
    derived = derive_ollama_template(renderer, go, profile, allow_generic=allow_generic, allow_frozen_date=allow_frozen_date)
    return profile, derived, prove_ollama(renderer, runtime, go, checkpoint, base, vocab, derived, choice)
