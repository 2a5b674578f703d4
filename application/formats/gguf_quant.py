"""`gguf-<quant>`: the intermediate quantized by llama.cpp's quantizer, split above --gguf-split-max-size,
measured against `reference-logits` (KL, top-1) when that internal format is in the plan, and its chat
format proven at token level (application.chat_proof): on the vocab-only GGUF at plan time, on the file
itself after the build, with a greedy chat completion recorded.

The low-bit types are also built from the publish's importance matrix (`gguf-imatrix`): with `--imatrix
auto` both variants are measured and the better one kept (gguf_quant_variants.py); the types that
cannot be made without an imatrix are refused at plan time when there can be none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubship.application.chat_proof import bos_choice, prove_gguf
from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import (
    INTERMEDIATE,
    INTERMEDIATE_INFO,
    OLLAMA_FILES_TOOLS,
    REFERENCE,
    TEMPLATE_NOTE,
    GgufBase,
    Preflight,
)
from hubship.application.formats.gguf_imatrix import IMATRIX, read_imatrix
from hubship.application.formats.gguf_quant_variants import build_variants, link
from hubship.application.formats.gguf_usage import gguf_usage, model_files
from hubship.application.formats.memory import SLAB, llama_cpp_step, logits_bytes, quantize_bytes
from hubship.application.formats.sizes import gguf_file_bytes
from hubship.application.node_build import save_verification
from hubship.application.ollama_runtime_check import RECORD
from hubship.application.served_conversations import served_conversations
from hubship.domain.chat_proof import THRESHOLDS as CHAT
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.gguf_quants import Quant
from hubship.domain.imatrix import OFF, WITH, ImatrixOption, parse_imatrix_option, uses_imatrix, variants
from hubship.domain.plan import Estimate
from hubship.ports.verifier import REFERENCE_FILE

# the figures a --threshold may bound: the logits against the reference, the file, and the token-level chat proof
METRICS = ("mean_kl", "top1_agreement", "mean_kl_with_imatrix", "mean_kl_without_imatrix", "bits_per_weight", "file_size_bytes", *CHAT)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _intermediate(ctx: BuildContext) -> dict[str, Any]:
    """What the intermediate's build left beside it (INTERMEDIATE_INFO)."""
    return dict(json.loads((ctx.inputs[INTERMEDIATE] / INTERMEDIATE_INFO).read_text()))


class GgufQuantFormat(GgufBase):
    """`gguf-<quant>`: the intermediate quantized by llama.cpp, split above --gguf-split-max-size, measured."""

    def __init__(self, quant: Quant, preflight: Preflight, with_reference: bool) -> None:
        super().__init__(preflight)
        self.quant = quant
        self.format = Format(
            name=quant.format_name,
            relation="quantized",
            description=f"The merged model in GGUF, quantized to {quant.name} for llama.cpp, Ollama and LM Studio",
            builds_from=(INTERMEDIATE, REFERENCE) if with_reference else (INTERMEDIATE,),
            library_name="gguf",
            tools=OLLAMA_FILES_TOOLS,
            metrics=METRICS,
        )

    def inputs_for(self, options: Mapping[str, Any]) -> tuple[str, ...]:
        """Built from the imatrix too when this type uses one under `--imatrix` (domain/imatrix.py)."""
        uses = uses_imatrix(self.quant, parse_imatrix_option(options.get("imatrix")))
        return (*self.format.builds_from, IMATRIX) if uses else self.format.builds_from

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        split = options.get("gguf_split_max_size")
        found = {**super().params(options, base), "quant": self.quant.name, "split_max_size": int(split) if split else None}
        option = parse_imatrix_option(options.get("imatrix"))
        if uses_imatrix(self.quant, option) or self.quant.needs_imatrix:  # q4 and up keep their keys: no imatrix there
            found["imatrix"] = option.mode
        return found

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        if self.quant.needs_imatrix and params.get("imatrix") == OFF:
            raise UserInputError(
                f"{self.format.name} cannot be made without an importance matrix (imatrix), and --imatrix is off;"
                " drop --imatrix off (hubship computes one), pass --imatrix FILE, or choose gguf-q2_k or larger"
            )

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        super().preflight(checkpoint, base, params, services)
        self._preflight.prove(checkpoint, base, services, params["bos"])
        option = ImatrixOption(mode=params.get("imatrix", OFF))
        if self.quant.needs_imatrix or (option.forced and uses_imatrix(self.quant, option)):
            try:
                services["imatrix_tools"].check()
            except UserInputError as exc:
                raise UserInputError(f"{self.format.name} needs an importance matrix, but {exc.message}") from None

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = gguf_file_bytes(base, self.quant.name, self.quant.bpw)
        return Estimate(size_bytes=size, peak_memory_bytes=llama_cpp_step(quantize_bytes(base) + size + logits_bytes(base) + SLAB))

    def _make(self, ctx: BuildContext, folder: Path, imatrix: Path | None) -> tuple[Path, ...]:
        """The GGUF file(s) of this quantization in `folder`, with the imatrix or without."""
        source_dir, source = ctx.inputs[INTERMEDIATE], _intermediate(ctx)
        out_file = folder / f"{ctx.params['name']}.{self.quant.name}.gguf"
        if imatrix is not None:
            ctx.service("imatrix_tools").quantize(source_dir / source["file"], out_file, self.quant.name, imatrix, progress=ctx.progress)
        elif source["type"] == self.quant.name:  # the intermediate is this very file: link it, do not copy it
            link(source_dir / source["file"], out_file)
        else:
            ctx.service("gguf_quantizer").quantize(source_dir / source["file"], out_file, self.quant.name, progress=ctx.progress)
        split = ctx.params["split_max_size"]
        if split and out_file.stat().st_size > split:
            return tuple(ctx.service("converter").split(out_file, split, ctx.progress))
        return (out_file,)

    def build(self, ctx: BuildContext) -> None:
        reference = ctx.inputs[REFERENCE] / REFERENCE_FILE if REFERENCE in ctx.inputs else None
        reference = reference if reference and reference.is_file() else None
        imatrix, info = read_imatrix(ctx.inputs.get(IMATRIX))
        option = ImatrixOption(mode=ctx.params.get("imatrix", OFF))
        wanted = variants(self.quant, option, available=imatrix is not None, measured=reference is not None)
        if WITH not in wanted and self.quant.needs_imatrix:  # the plan refuses this; a stale workspace could still get here
            raise UserInputError(f"{self.format.name} needs an importance matrix and none could be made: {info.get('reason', 'unknown')}")

        def measure(files: tuple[Path, ...]) -> dict[str, float]:
            return ctx.service("gguf_verifier").measure(files, reference, progress=ctx.progress)

        metrics, notes = build_variants(ctx, wanted, imatrix, info, lambda folder, im: self._make(ctx, folder, im), measure)
        kept = [ctx.out_dir / f for f in model_files([p.name for p in ctx.out_dir.glob("*.gguf")])]
        metrics |= self._projector(ctx, kept[0])
        renderer, bos = ctx.service("chat_renderer"), ctx.params["bos"]
        choice = bos_choice(renderer, ctx.checkpoint, ctx.base, bos)
        runtime, served = ctx.service("chat_runtime"), ctx.service("served_chat")
        name = ctx.params["name"]
        try:  # one llama-server for the three: the client conversations, Ollama 0.30.0+'s, and the token-level proof
            extra = served_conversations(renderer, runtime, served, ctx.checkpoint, ctx.base, kept[0])
            vocab = self._preflight.run(ctx.checkpoint, ctx.base, ctx.services, bos)  # made at plan time: not converted again
            ollama = self._preflight.ollama.write(ctx.checkpoint, ctx.base, ctx.services, ctx.out_dir, bos, vocab, kept[0])
            chat = prove_gguf(renderer, runtime, ctx.checkpoint, ctx.base, kept[0], complete=True, bos=choice, served=served, name=name)
        finally:
            served.close()  # one model in memory at a time, whichever proofs ran
        proof = chat.verification()
        hint = [h for h in [_intermediate(ctx).get(TEMPLATE_NOTE)] if h]  # the chat template the intermediate kept, and why
        verification = {
            "metrics": {"quantization": self.quant.name, **metrics, **proof["metrics"], **extra["metrics"], **ollama["metrics"]},
            "thresholds": {"mean_kl": {"max": self.quant.kl_max}, **proof["thresholds"]},
            "notes": [*notes, *hint, *proof["notes"], *extra["notes"], *ollama["notes"]],
            "warnings": [*proof["warnings"], *extra["warnings"], *ollama["warnings"]],
            **({RECORD: ollama[RECORD]} if RECORD in ollama else {}),
        }
        save_verification(ctx.out_dir, verification)

    def _projector(self, ctx: BuildContext, model_file: Path) -> dict[str, Any]:
        """A vision-language model's projector, linked from the intermediate as it is (quantizing it is llama.cpp's
        choice, not one a user makes per text quantization) and checked beside this file by llama.cpp."""
        source_dir = ctx.inputs[INTERMEDIATE]
        name = _intermediate(ctx).get("projector")
        if name is None:
            return {}
        link(source_dir / name, ctx.out_dir / name)
        return ctx.service("gguf_verifier").projector(model_file, ctx.out_dir / name)

    def usage(self, repo_or_path: str) -> str:
        return self.usage_for(repo_or_path, (), "hf" if _HUB_ID.match(repo_or_path) else "dir")

    def usage_for(self, location: str, files: Sequence[str], scheme: str) -> str:
        """The usage lines naming this artifact's real files (`files`: its paths) at `location` of a `scheme` destination."""
        return gguf_usage(location, self.quant.name, files, hub=scheme == "hf")
