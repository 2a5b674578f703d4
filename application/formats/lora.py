"""Format `lora`: the adapter itself, with the tokenizer and chat template it was trained with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import files_step
from hubship.application.formats.sizes import side_files_bytes
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate


class LoraFormat:
    format = Format(
        name="lora",
        relation="adapter",
        description="The LoRA adapter",
        library_name="peft",
        tools=("peft",),
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = checkpoint.adapter_bytes + side_files_bytes(checkpoint, base)
        return Estimate(size_bytes=size, peak_memory_bytes=files_step(checkpoint.adapter_bytes))

    def build(self, ctx: BuildContext) -> None:
        saver = ctx.service("saver")
        saver.save_adapter(ctx.checkpoint, ctx.out_dir, ctx.progress)
        saver.save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "from peft import AutoPeftModelForCausalLM\n"
            "from transformers import AutoTokenizer\n\n"
            f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_or_path}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )
