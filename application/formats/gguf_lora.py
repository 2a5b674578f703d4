"""`gguf-lora`: the adapter as a GGUF LoRA, through llama.cpp's LoRA converter, for runtimes that load base + adapter.

llama.cpp applies plain LoRA only: `check` refuses what it cannot express (DoRA, rsLoRA, per-module
alphas, fully trained modules, other PEFT types) before anything is built, and so an adapter trained on a
quantized base (llama.cpp would apply it to a 16-bit one) and a full fine-tune (no adapter).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import TOOLS, GgufBase, metadata, warm_converter
from hubship.application.formats.lora import refuse_full
from hubship.application.formats.memory import RUNTIME
from hubship.domain.artifact_sizes import GGUF_FIXED_METADATA
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate


class GgufLoraFormat(GgufBase):
    """`gguf-lora`: the adapter as a GGUF LoRA (llama.cpp's LoRA converter), for runtimes that load base + adapter."""

    format = Format(
        name="gguf-lora",
        relation="adapter",
        description="The LoRA adapter in GGUF, to load with its base model in llama.cpp or Ollama",
        library_name="gguf",
        tools=TOOLS,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {**super().params(options, base), "outtype": "f16"}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        refuse_full(checkpoint, self.format.name)
        if base.quantization is not None:
            raise UserInputError(
                f"gguf-lora of an adapter trained on a quantized base ({base.quantization.label}) would be applied by llama.cpp"
                " to a base other than the one it was trained on; publish a merged GGUF such as gguf-q4_k_m instead"
            )
        config = checkpoint.adapter_config
        unsupported = [
            label
            for label, present in (
                (f"a {checkpoint.peft_type} adapter", checkpoint.peft_type != "LORA"),
                ("DoRA (use_dora)", bool(config.get("use_dora"))),
                ("rsLoRA scaling (use_rslora)", bool(config.get("use_rslora"))),
                ("per-module alphas (alpha_pattern)", bool(config.get("alpha_pattern"))),
                ("fully trained modules (modules_to_save)", bool(config.get("modules_to_save"))),
            )
            if present
        ]
        if unsupported:
            raise UserInputError(
                f"gguf-lora cannot express {', '.join(unsupported)} (llama.cpp applies plain LoRA only);"
                " publish a merged GGUF such as gguf-q8_0 instead"
            )

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = checkpoint.adapter_bytes // 2 + GGUF_FIXED_METADATA  # in F16; trainers save LoRA weights in fp32
        return Estimate(size_bytes=size, peak_memory_bytes=RUNTIME["converter"] + 2 * checkpoint.adapter_bytes)

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

    def usage(self, repo_or_path: str) -> str:
        return (
            "```sh\n"
            "# with the base model in GGUF (e.g. its F16 or Q8_0 file)\n"
            f"llama-cli -m base.gguf --lora {repo_or_path}/<name>.LoRA-F16.gguf\n"
            "```\n\nIn Ollama: `FROM <base model>` and `ADAPTER ./<name>.LoRA-F16.gguf` in a Modelfile."
        )
