"""Formats `ollama-<quant>`: one GGUF packaged for Ollama, with a Modelfile whose TEMPLATE is derived
from the checkpoint's chat template and proven against it (application.ollama_template).

Internal formats: a user never requests them; the `ollama:` destination picks one (`--ollama-quant`,
default q4_k_m), and the plan builds the matching `gguf-<quant>` for it. The template is derived (with
the BOS rule of the GGUF the converter makes of this tokenizer), checked against Jinja, and proven at
token level (application.chat_proof) at plan time (`preflight`, seconds), so an untranslatable template
or a wrong chat format stops the publish before any merge. The artifact folder is Ollama-ready: the
GGUF (hard-linked), `Modelfile`, and `ollama.json` (the same model as `/api/create` fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.chat_proof import gate
from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_quant_variants import link
from hubship.application.formats.gguf_usage import model_files, projector_files
from hubship.application.formats.memory import llama_cpp_step
from hubship.application.node_build import save_verification, verification_of
from hubship.application.ollama_derivation import derive_for_gguf
from hubship.application.ollama_runtime_check import RECORD, created_record, runtime_key, runtime_record
from hubship.application.ollama_template import OllamaTemplate, ollama_model
from hubship.domain.bos_choice import DEFAULT_POLICY
from hubship.domain.chat_proof import THRESHOLDS as CHAT
from hubship.domain.chat_proof import TokenProof
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.formats import Format
from hubship.domain.gguf_quants import QUANTS
from hubship.domain.ollama_model import MODEL_JSON, MODELFILE
from hubship.domain.plan import Estimate
from hubship.domain.suggest import did_you_mean

TOOLS = ("transformers", "jinja2", "go")
DEFAULT_QUANT = "q4_k_m"


class OllamaFormat:
    """`ollama-<quant>`: the `gguf-<quant>` file plus its Modelfile (internal; chosen by the ollama: destination)."""

    def __init__(self, quant: str) -> None:
        self.quant = quant
        self.gguf = f"gguf-{quant.lower()}"
        self.format = Format(
            name=f"ollama-{quant.lower()}",
            relation="quantized",
            description=f"The merged model as an Ollama model: the {quant} GGUF with a Modelfile whose chat TEMPLATE is checked",
            builds_from=(self.gguf,),
            library_name="gguf",
            tools=TOOLS,
            internal=True,
            metrics=(*CHAT, "template_check_mismatches"),  # the GGUF inside is bounded as gguf-<quant>
        )
        self._derived: dict[tuple[str, str | None, bool, bool, str], tuple[Any, OllamaTemplate, TokenProof]] = {}

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {
            "quant": self.quant,
            "allow_generic_template": bool(options.get("allow_generic_template")),
            "allow_frozen_date": bool(options.get("allow_frozen_date")),
            "bos": str(options.get("bos") or DEFAULT_POLICY),
        }

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def _derive(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]):
        allow_generic, allow_frozen = bool(params["allow_generic_template"]), bool(params.get("allow_frozen_date"))
        bos = str(params.get("bos") or DEFAULT_POLICY)
        key = (checkpoint.root, checkpoint.chat_template, allow_generic, allow_frozen, bos)  # plan and build of one publish derive once
        if key not in self._derived:
            self._derived[key] = derive_for_gguf(
                checkpoint, base, services, allow_generic=allow_generic, allow_frozen_date=allow_frozen, bos=bos
            )
        return self._derived[key]

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        """Derive the TEMPLATE, run the Go/Jinja check and the token-level proof now: an untranslatable template
        fails the plan (exit 2), a wrong chat format the quality gate (exit 3)."""
        gate(self._derive(checkpoint, base, params, services)[2], "the Ollama model")

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        # the GGUF is hard-linked from its own artifact; the process holds llama.cpp (loaded for the chat proof)
        return Estimate(size_bytes=64 * 1024, peak_memory_bytes=llama_cpp_step(0))

    def build(self, ctx: BuildContext) -> None:
        profile, derived, proof = self._derive(ctx.checkpoint, ctx.base, ctx.params, ctx.services)
        ggufs = [ctx.inputs[self.gguf] / f for f in model_files([p.name for p in ctx.inputs[self.gguf].glob("*.gguf")])]  # not its imatrix
        if len(ggufs) != 1:
            raise PublishError(
                f"Ollama needs one GGUF file but {self.gguf} has {len(ggufs)}; publish to Ollama without --gguf-split-max-size"
            )
        link(ggufs[0], ctx.out_dir / ggufs[0].name)
        model = ollama_model(derived, profile, model_file=ggufs[0].name, license=ctx.base.license)
        (ctx.out_dir / MODELFILE).write_text(model.modelfile(), encoding="utf-8")
        (ctx.out_dir / MODEL_JSON).write_text(model.to_json(), encoding="utf-8")
        metrics = {"ollama_template": "derived" if derived.template is not None else "generic", **derived.check.summary()}
        metrics["ollama_capabilities"] = ", ".join(derived.capabilities)
        served = self._runtime(ctx, profile, derived, ggufs[0])
        metrics |= served["metrics"]
        if derived.structure is not None and derived.structure.trimmed:
            metrics["template_trimmed_contents"] = "; ".join(derived.structure.trimmed)
        if derived.structure is not None and derived.structure.dates:
            metrics["template_dates"] = ", ".join(derived.structure.dates)
        chat = proof.verification()
        if projector_files([p.name for p in ctx.inputs[self.gguf].glob("*.gguf")]):
            derived_notes = (*derived.notes, TEXT_ONLY)
        else:
            derived_notes = tuple(derived.notes)
        verification = {
            "metrics": {**metrics, **chat["metrics"]},
            "thresholds": chat["thresholds"],
            "warnings": [*derived.warnings, *chat["warnings"], *served["warnings"]],
            "notes": [*derived_notes, *chat["notes"], *served["notes"]],
        }
        save_verification(ctx.out_dir, verification)

    def _runtime(self, ctx: BuildContext, profile: Any, derived: OllamaTemplate, gguf: Path) -> dict[str, Any]:
        """What Ollama renders this model with: Ollama's built-in renderer where `ollama create` gives its architecture
        one; else Ollama 0.30.0+'s choice, taken from the GGUF artifact's record where it proved the same TEMPLATE on
        the same file (its Hub Ollama files), or proven here."""
        served = ctx.service("served_chat")
        created = created_record(served.architecture(gguf))
        if created is not None:  # `ollama create` gives this architecture Ollama's own renderer
            return created
        kept = (verification_of(ctx.inputs[self.gguf]) or {}).get(RECORD)
        if kept and kept["key"] == runtime_key(profile, derived, ctx.base.model_type):
            return {k: kept[k] for k in ("metrics", "notes", "warnings")}
        try:
            return runtime_record(ctx.service("chat_renderer"), served, profile, derived, gguf, ctx.base.model_type)
        finally:
            served.close()

    def usage(self, repo_or_path: str) -> str:
        return (
            f"```sh\nollama run {repo_or_path}\n```\n\n"
            "A folder holding this artifact (the GGUF and its `Modelfile`) becomes an Ollama model with"
            f" `ollama create {repo_or_path} -f Modelfile` run in it."
        )


TEXT_ONLY = (
    "text only in Ollama: the GGUF's vision projector (mmproj) is not carried, as Ollama's engine for this"
    " architecture does not load a llama.cpp projector; run images with llama.cpp (the GGUF's card)"
)


def ollama_formats() -> list[OllamaFormat]:
    """The Ollama family (entry point `ollama`): one internal format per GGUF quantization."""
    return [OllamaFormat(q.name) for q in QUANTS if not q.needs_imatrix]


def format_for_quant(quant: str | None) -> str:
    """The `ollama-<quant>` format for `--ollama-quant` (default q4_k_m); a UserInputError lists the valid ones."""
    name = (quant or DEFAULT_QUANT).strip().lower().removeprefix("gguf-")
    valid = [f.quant.lower() for f in ollama_formats()]
    if name not in valid:
        raise UserInputError(f"unknown --ollama-quant {quant!r}; {did_you_mean(name, valid, 'use one of ' + ', '.join(valid))}")
    return f"ollama-{name}"
