"""Format `merged-16bit`: base + adapter merged into one model, as safetensors in the base's dtype."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


class Merged16bitFormat:
    format = Format(
        name="merged-16bit",
        relation="merge",
        description="The model with its LoRA adapter merged in",
        library_name="transformers",
        tools=("torch", "transformers", "peft", "safetensors"),
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        dtype = options.get("dtype") or base.dtype
        if dtype not in DTYPE_BYTES:
            raise UserInputError(f"unsupported dtype {dtype!r}; use --dtype bf16, fp16 or fp32")
        return {"dtype": dtype, "max_shard_size": int(options.get("max_shard_size") or 5 * 1000**3)}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        if not checkpoint.mergeable:
            raise UserInputError(f"a {checkpoint.peft_type} adapter cannot be merged into its base; publish it with --format lora")

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = base.parameter_bytes * DTYPE_BYTES[params["dtype"]] // max(DTYPE_BYTES.get(base.dtype, 2), 1)
        return Estimate(size_bytes=size, peak_memory_bytes=size)

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

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo_or_path}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )
