"""Format `lora`: the adapter itself, with the tokenizer and chat template it was trained with.

Its adapter_config.json names the base by hub id (the plan's lineage: the quantized base for a QLoRA adapter),
never by a local path, so `AutoPeftModelForCausalLM.from_pretrained` of the published adapter finds its base.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import files_step
from hubship.application.formats.sizes import side_files_bytes
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate


def refuse_full(checkpoint: Checkpoint, fmt: str) -> None:
    """An adapter format of a full fine-tune is a UserInputError: there is no adapter."""
    if checkpoint.is_full:
        raise UserInputError(
            f"{fmt} publishes an adapter, and {checkpoint.root} is a full fine-tune (a whole model, no adapter);"
            " publish model-16bit (merged-16bit), model-4bit or a GGUF instead"
        )


class LoraFormat:
    format = Format(
        name="lora",
        relation="adapter",
        description="The LoRA adapter",
        library_name="peft",
        tools=("peft",),
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {"base_model_id": base.lineage.base.id if base.lineage.base else None}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        refuse_full(checkpoint, self.format.name)

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = checkpoint.adapter_bytes + side_files_bytes(checkpoint, base)
        return Estimate(size_bytes=size, peak_memory_bytes=files_step(0))  # copied by the kernel, never read in

    def build(self, ctx: BuildContext) -> None:
        saver = ctx.service("saver")
        saver.save_adapter(ctx.checkpoint, ctx.out_dir, ctx.progress, base_model_id=ctx.params["base_model_id"])
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
