"""Format `merged-4bit`: the merged model quantized to bitsandbytes 4-bit (nf4 by default), loadable on CPU.

Built from the `merged-16bit` artifact of the same plan (the merge runs once), by the Quantizer
port, then verified against `reference-logits`: mean KL and top-1 agreement (docs/formats-quality.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import bnb_step_bytes, torch_step
from hubship.application.formats.reference_logits import write_verification
from hubship.application.formats.sizes import bnb_bytes, side_files_bytes
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.domain.suggest import did_you_mean

QUANT_TYPES = ("nf4", "fp4")
METRICS = ("mean_kl", "top1_agreement", "top1_near")
# Gated on KL alone, as GGUF is: top-1 agreement (strict) flips on every near-tie, so it is reported, not gated by default.
THRESHOLDS = {"mean_kl": {"max": 0.1}}


class Merged4bitFormat:
    format = Format(
        name="merged-4bit",
        relation="quantized",
        description="The merged model quantized to 4 bits with bitsandbytes",
        builds_from=("merged-16bit", "reference-logits"),
        library_name="transformers",
        tools=("torch", "transformers", "bitsandbytes", "safetensors"),
        metrics=METRICS,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        quant_type = str(options.get("bnb_quant_type") or "nf4").lower()
        if quant_type not in QUANT_TYPES:
            raise UserInputError(f"unsupported --bnb-quant-type {quant_type!r}; {did_you_mean(quant_type, QUANT_TYPES, 'use nf4 or fp4')}")
        return {"quant_type": quant_type, "double_quant": bool(options.get("bnb_double_quant"))}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = bnb_bytes(base, params["double_quant"]) + side_files_bytes(checkpoint, base)
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(bnb_step_bytes(base, size)))

    def build(self, ctx: BuildContext) -> None:
        ctx.service("quantizer").quantize(
            ctx.inputs["merged-16bit"],
            ctx.out_dir,
            quant_type=ctx.params["quant_type"],
            double_quant=ctx.params["double_quant"],
            progress=ctx.progress,
        )
        notes = ctx.service("saver").save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)
        write_verification(ctx, METRICS, THRESHOLDS, notes=notes)

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            "# needs `pip install bitsandbytes`; the quantization settings are in config.json\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo_or_path}", device_map="auto")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )
