"""`gguf-lora`: the adapter as a GGUF LoRA, through llama.cpp's LoRA converter, for runtimes that load base + adapter.

llama.cpp applies plain LoRA on modules only: `check` refuses what it cannot express (DoRA, rsLoRA, per-module
alphas, fully trained modules, peft's `target_parameters` on fused MoE experts, other PEFT types) before anything
is built, and so an adapter trained on a
quantized base (llama.cpp would apply it to a 16-bit one) and a full fine-tune (no adapter).

Verified as a user runs it: the base converted to a lossless GGUF (its own dtype, as the merged intermediate is),
in a scratch folder of the build deleted after, loaded by llama.cpp with this adapter applied (`--lora`), against
the reference logits of base + adapter: the same bound as a lossless GGUF. The base's GGUF is not published (a user
has it, or converts the base as the card says); the scratch counts in the plan's disk figure.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import REFERENCE, TOOLS, GgufBase, Preflight, metadata, warm_converter
from hubship.application.formats.gguf_intermediate import lossless_bytes, lossless_outtype
from hubship.application.formats.lora import refuse_full
from hubship.application.formats.memory import RUNTIME, converter_step
from hubship.application.formats.reference_logits import reference_file, verify_mode
from hubship.application.node_build import save_verification
from hubship.domain.artifact_sizes import GGUF_FIXED_METADATA
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.gguf_quants import QUANTS
from hubship.domain.plan import Estimate

KL_MAX = next(q.kl_max for q in QUANTS if q.name == "F16")  # a lossless GGUF's bound


class GgufLoraFormat(GgufBase):
    """`gguf-lora`: the adapter as a GGUF LoRA (llama.cpp's LoRA converter), for runtimes that load base + adapter."""

    def __init__(self, preflight: Preflight, with_reference: bool = False) -> None:
        super().__init__(preflight)
        self.format = Format(
            name="gguf-lora",
            relation="adapter",
            description="The LoRA adapter in GGUF, to load with its base model in llama.cpp or Ollama",
            builds_from=(REFERENCE,) if with_reference else (),
            library_name="gguf",
            tools=TOOLS,
            metrics=("mean_kl", "top1_agreement"),
        )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        base_outtype = lossless_outtype(options, base)  # the base's GGUF, converted to verify the adapter on it
        verified = bool(self.format.builds_from) and verify_mode(options) != "off"
        return {**super().params(options, base), "outtype": "f16", "base_outtype": base_outtype, "verified": verified}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        refuse_full(checkpoint, self.format.name)
        if base.quantization is not None:
            raise UserInputError(
                f"gguf-lora of an adapter trained on a quantized base ({base.quantization.label}) would be applied by llama.cpp"
                " to a base other than the one it was trained on; publish a merged GGUF such as gguf-q4_k_m instead"
            )
        config = checkpoint.adapter_config
        parameters = [str(p) for p in config.get("target_parameters") or ()]  # peft's LoRA on fused MoE experts
        unsupported = [
            label
            for label, present in (
                (f"a {checkpoint.peft_type} adapter", checkpoint.peft_type != "LORA"),
                (f"LoRA on parameters (target_parameters: {', '.join(parameters)})", bool(parameters)),
                ("DoRA (use_dora)", bool(config.get("use_dora"))),
                ("rsLoRA scaling (use_rslora)", bool(config.get("use_rslora"))),
                ("per-module alphas (alpha_pattern)", bool(config.get("alpha_pattern"))),
                ("fully trained modules (modules_to_save)", bool(config.get("modules_to_save"))),
            )
            if present
        ]
        if unsupported:
            raise UserInputError(
                f"gguf-lora cannot express {', '.join(unsupported)} (llama.cpp applies plain LoRA on modules only);"
                " drop gguf-lora (the other formats publish without it) or publish a merged GGUF such as gguf-q8_0 instead"
            )

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = checkpoint.adapter_bytes // 2 + GGUF_FIXED_METADATA  # in F16; trainers save LoRA weights in fp32
        scratch = lossless_bytes(base, params["base_outtype"]) if params["verified"] else 0
        memory = max(RUNTIME["converter"] + 2 * checkpoint.adapter_bytes, converter_step(base) if scratch else 0)
        return Estimate(size_bytes=size + scratch, peak_memory_bytes=memory)

    def warm_up(self, services: Mapping[str, Any], needed: bool) -> None:
        warm_converter(services, needed)

    def build(self, ctx: BuildContext) -> None:
        out_file = ctx.out_dir / f"{ctx.params['name']}.LoRA-{ctx.params['outtype'].upper()}.gguf"
        ctx.service("converter").convert_lora(
            Path(ctx.checkpoint.root),
            Path(ctx.base.path),
            out_file,
            outtype=ctx.params["outtype"],
            progress=ctx.progress,
            **metadata(ctx),
        )
        reference = reference_file(ctx)
        if reference is not None:  # else --verify off
            self._verify(ctx, out_file, reference)

    def _verify(self, ctx: BuildContext, adapter: Path, reference: Path) -> None:
        """The base in GGUF with `adapter` applied by llama.cpp, against the reference logits of base + adapter."""
        outtype = ctx.params["base_outtype"]
        with tempfile.TemporaryDirectory(prefix=".base-", dir=ctx.out_dir) as scratch:
            base_gguf = Path(scratch) / f"base.{outtype.upper()}.gguf"
            ctx.service("converter").convert(Path(ctx.base.path), base_gguf, outtype=outtype, progress=ctx.progress, **metadata(ctx))
            measured = ctx.service("gguf_verifier").measure([base_gguf], reference, progress=ctx.progress, lora=adapter)
        record = {
            "metrics": {m: measured[m] for m in self.format.metrics if m in measured},
            "thresholds": {"mean_kl": {"max": KL_MAX}},
            "notes": [
                f"measured as llama.cpp runs it: the base converted to GGUF ({outtype.upper()}) with this adapter applied"
                " (`--lora`), against base + adapter as peft runs them"
            ],
        }
        save_verification(ctx.out_dir, record)

    def usage(self, repo_or_path: str) -> str:
        return (
            "```sh\n"
            "# with the base model in GGUF (e.g. its F16 or Q8_0 file)\n"
            f"llama-cli -m base.gguf --lora {repo_or_path}/<name>.LoRA-F16.gguf\n"
            "```\n\nIn Ollama: `FROM <base model>` and `ADAPTER ./<name>.LoRA-F16.gguf` in a Modelfile."
        )
