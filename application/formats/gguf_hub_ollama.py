"""The Ollama files of a GGUF artifact (`template`, `system`, `params`; domain/hub_ollama.py): what a Hub GGUF repo
carries so that `ollama run hf.co/OWNER/NAME-GGUF:QUANT` uses the template the `ollama:` destination ships.

The derivation is the `ollama:` destination's (application.ollama_derivation.derive_for_gguf): the TEMPLATE
derived under the GGUF's BOS rule, rendered byte-identical to the Jinja template in Go, proven at token level.
Only a template that passed both is written: when it cannot be derived, or Go is missing, or the proof fails,
the artifact gets none of the three files (the Hub then converts the GGUF's Jinja template itself) and its
card says why. One derivation serves every `gguf-<quant>` of a publish (they share one `HubOllama`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.ollama_derivation import derive_for_gguf
from hubship.application.ollama_runtime_check import RECORD, runtime_key, runtime_record
from hubship.application.ollama_template import for_hub, ollama_model
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.hub_ollama import hub_ollama_files

NONE = (
    "no Ollama `template` file: {reason}. `ollama run hf.co/...` on this repo uses the template the Hub converts from the"
    " GGUF's chat template by itself, which may not match the chat format the model was trained on"
)
SHIPPED = (
    "Ollama files {files}: the Go template derived from this model's own chat template, rendered byte-identical to it on"
    " {cases} check conversations and proven at token level on {proven} (Ollama's render, tokenized as llama.cpp feeds it,"
    " gives training's ids); `ollama run hf.co/...` uses them instead of the Hub's automatic conversion"
)


@attrs.frozen(kw_only=True)
class OllamaFiles:
    """`files`: name -> content (empty when none is written, with the reason in `reason`); `notes` for the card."""

    files: Mapping[str, str] = attrs.field(factory=dict)
    reason: str = ""
    notes: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    profile: Any = None
    derived: Any = None

    def verification(self) -> dict[str, Any]:
        """The metrics and notes a GGUF artifact's `.verification.json` gets from its Ollama files."""
        if not self.files:
            return {"metrics": {"ollama_template": "none"}, "notes": [NONE.format(reason=self.reason)]}
        return {"metrics": {"ollama_template": "derived", "ollama_capabilities": ", ".join(self.capabilities)}, "notes": list(self.notes)}


def _why_not(derived: Any, proof: Any) -> str:
    """Why the derived template is not shipped ("" when it is)."""
    if derived.template is None:
        return f"no faithful Ollama template could be derived from the chat template ({derived.refusal})"
    if derived.check.status != "passed":
        return f"the derived Ollama template could not be checked against the chat template ({derived.check.reason})"
    if proof.skipped:
        return f"the derived Ollama template could not be proven at token level ({proof.skipped})"
    if not proof.passed:
        return f"the derived Ollama template is wrong at token level ({proof.problems()[0]})"
    return ""


class HubOllama:
    """Derives the Ollama files once per checkpoint and base, and writes them into GGUF artifacts."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str | None, str, str], OllamaFiles] = {}

    def files_for(
        self, checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any], bos: str, vocab: Path | None = None
    ) -> OllamaFiles:
        """The Ollama files of this checkpoint under the BOS policy `bos` (services: chat_renderer, chat_runtime,
        go_templates, saver, converter; `vocab`: its vocab-only GGUF when the plan's preflight made it)."""
        key = (checkpoint.root, checkpoint.chat_template, str(base.path), bos)
        if key not in self._made:
            profile, derived, proof = derive_for_gguf(checkpoint, base, services, allow_generic=True, bos=bos, vocab=vocab)
            derived = for_hub(derived)
            reason = _why_not(derived, proof)
            if reason:
                self._made[key] = OllamaFiles(reason=reason)
            else:
                model = ollama_model(derived, profile, model_file="", license=None)
                files = hub_ollama_files(model)
                note = SHIPPED.format(
                    files=", ".join(f"`{f}`" for f in files), cases=derived.check.cases, proven=f"{proof.conversations} conversations"
                )
                notes = (note, *derived.notes[1:])
                self._made[key] = OllamaFiles(files=files, notes=notes, capabilities=derived.capabilities, profile=profile, derived=derived)
        return self._made[key]

    def write(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        services: Mapping[str, Any],
        out_dir: Path,
        bos: str,
        vocab: Path | None = None,
        gguf: Path | None = None,
    ) -> dict[str, Any]:
        """Write the files into `out_dir`; returns what they add to its verification record (metrics, notes, warnings),
        with what Ollama 0.30.0+ renders `gguf` with when it is given (application.ollama_runtime_check; also whole,
        under RECORD, for the Ollama artifact on the same file). llama-server may be left running on `gguf`."""
        made = self.files_for(checkpoint, base, services, bos, vocab)
        for name, text in made.files.items():
            (out_dir / name).write_text(text, encoding="utf-8", newline="")
        found = {"warnings": [], **made.verification()}
        if made.files and gguf is not None:
            served = runtime_record(services["chat_renderer"], services["served_chat"], made.profile, made.derived, gguf, base.model_type)
            found = {k: found[k] + served[k] if k != "metrics" else {**found[k], **served[k]} for k in ("metrics", "notes", "warnings")}
            found[RECORD] = {"key": runtime_key(made.profile, made.derived, base.model_type), **served}
        return found
