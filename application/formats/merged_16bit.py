"""Format `merged-16bit`: base + adapter merged into one model, as safetensors in the base's dtype.

Built by the Merger port (streaming: bounded memory), then verified against `reference-logits`:
max abs diff and mean KL of the probe's logits, against per-dtype default thresholds
(docs/formats-quality.md). With `--verify off` the reference is empty and the check is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import forward_bytes, merge_bytes, torch_step
from hubship.application.formats.reference_logits import write_verification
from hubship.application.formats.sizes import DTYPE_BYTES, merged_bytes, side_files_bytes
from hubship.domain.checkpoint import BaseInfo, Checkpoint, unmergeable_reason
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.domain.suggest import did_you_mean

# Rounding W + dW once to the output dtype is all a correct merge changes; a broken one (lost scaling,
# stale tied head) gives KL of 1e-2 and more. max_abs_diff is a coarse guard, mean_kl the sharp one.
THRESHOLDS: dict[str, dict[str, dict[str, float]]] = {
    "fp32": {"max_abs_diff": {"max": 1e-3}, "mean_kl": {"max": 1e-6}},
    "fp16": {"max_abs_diff": {"max": 0.25}, "mean_kl": {"max": 1e-4}},
    "bf16": {"max_abs_diff": {"max": 1.0}, "mean_kl": {"max": 1e-3}},
}
METRICS = ("max_abs_diff", "mean_kl")


class Merged16bitFormat:
    format = Format(
        name="merged-16bit",
        relation="merge",
        description="The model with its LoRA adapter merged in",
        builds_from=("reference-logits",),
        library_name="transformers",
        tools=("torch", "transformers", "peft", "safetensors"),
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        dtype = options.get("dtype") or base.dtype
        if dtype not in DTYPE_BYTES:
            raise UserInputError(f"unsupported dtype {dtype!r}; {did_you_mean(str(dtype), DTYPE_BYTES, 'use --dtype bf16, fp16 or fp32')}")
        return {"dtype": dtype, "max_shard_size": int(options.get("max_shard_size") or 5 * 1000**3)}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        reason = unmergeable_reason(checkpoint.adapter_config)
        if reason:
            raise UserInputError(f"{reason} cannot be merged into its base model; publish it with --format lora")

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = merged_bytes(base, params["dtype"]) + side_files_bytes(checkpoint, base)
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(max(merge_bytes(checkpoint, base), forward_bytes(base))))

    def build(self, ctx: BuildContext) -> None:
        ctx.service("merger").merge(
            ctx.checkpoint,
            ctx.base,
            ctx.out_dir,
            dtype=ctx.params["dtype"],
            max_shard_bytes=ctx.params["max_shard_size"],
            progress=ctx.progress,
        )
        ctx.service("saver").save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)
        write_verification(ctx, METRICS, THRESHOLDS[ctx.params["dtype"]])

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo_or_path}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )
