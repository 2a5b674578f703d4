"""What every GGUF format shares: the internal format names, the converter preflight and the plan-time
token-level proof of the chat format (each run once per checkpoint and base however many GGUF formats
share it), and the params every GGUF format carries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.chat_proof import bos_choice, gate, prove_gguf, vocab_gguf
from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_hub_ollama import HubOllama
from hubship.domain.bos_choice import DEFAULT_POLICY
from hubship.domain.chat_proof import TokenProof
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format

INTERMEDIATE = "gguf-intermediate"
REFERENCE = "reference-logits"
INTERMEDIATE_INFO = ".gguf-intermediate.json"
TOOLS = ("llama_cpp_python",)
TEMPLATE_NOTE = "thinking_hint"
"""Where INTERMEDIATE_INFO says why the GGUF carries the checkpoint's chat template after a rewrite was tried."""
OLLAMA_FILES_TOOLS = (*TOOLS, "transformers", "jinja2", "go")
"""What a GGUF built with the Ollama files' derivation depends on: Jinja renders, Go checks (gguf_hub_ollama.py)."""


def metadata(ctx: BuildContext) -> dict[str, Any]:
    """The name, base model (a hub id, or None) and license the converter writes into the GGUF."""
    return {"name": ctx.params["name"], "base_model": ctx.params["base_model"], "license": ctx.params["license"]}


class Preflight:
    """The converter's plan-time check, run once per checkpoint and base however many GGUF formats share it,
    the token-level proof of the chat format on its vocab-only GGUF (`prove`), and the Ollama files every
    GGUF quantization carries (`ollama`, derived once)."""

    def __init__(self) -> None:
        self._vocab: dict[tuple[str, str, str], Path] = {}
        self._proofs: dict[Path, TokenProof] = {}
        self.ollama = HubOllama()

    def run(self, checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any], bos: str) -> Path:
        """The vocab-only GGUF of the tokenizer the merged model will carry, with the BOS choice under the policy `bos`
        (converting it checks the tokenizer)."""
        key = (checkpoint.root, base.path, bos)
        if key not in self._vocab:
            self._vocab[key] = vocab_gguf(checkpoint, base, services, bos_choice(services["chat_renderer"], checkpoint, base, bos))
        return self._vocab[key]

    def prove(self, checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any], bos: str) -> None:
        """The chat format at token level on the vocab-only GGUF: QualityGateFailed (exit 3) before any merge."""
        vocab = self.run(checkpoint, base, services, bos)
        if vocab not in self._proofs:
            renderer = services["chat_renderer"]
            choice = bos_choice(renderer, checkpoint, base, bos)
            self._proofs[vocab] = prove_gguf(renderer, services["chat_runtime"], checkpoint, base, vocab, complete=False, bos=choice)
        gate(self._proofs[vocab], "the GGUF")


def warm_converter(services: Mapping[str, Any], needed: bool) -> None:
    """Start the converter ahead when a conversion will run, else stop one the preflight started (a converter this
    run never made has nothing to stop: it is not imported for that)."""
    if needed:
        services["converter"].warm_up()
    elif getattr(services, "made", lambda key: True)("converter"):
        services["converter"].cool_down()


class GgufBase:
    """What every GGUF format shares: the publish name and license in params, the converter preflight."""

    format: Format

    def __init__(self, preflight: Preflight) -> None:
        self._preflight = preflight

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        upstream = base.lineage.upstream
        return {
            "name": str(options.get("name") or "model"),
            "license": base.license,
            "base_model": upstream.id if upstream else None,
            "bos": str(options.get("bos") or DEFAULT_POLICY),
        }

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        services["converter"].warm_up()  # its imports overlap the checks and the merge; the plan stops it if unused
        self._preflight.run(checkpoint, base, services, params["bos"])
