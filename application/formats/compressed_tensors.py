"""Formats `fp8-dynamic` and `w4a16`: the merged model as a compressed-tensors checkpoint, the format vLLM and
SGLang load natively, made by llm-compressor's `oneshot` with its documented recipes.

- `fp8-dynamic`: FP8 weights (per channel) with FP8 activations scaled per token at run time; data-free.
- `w4a16`: INT4 weights (groups of 128) by GPTQ, 16-bit activations, calibrated on the same text as the GGUF
  imatrix (`--calibration`, else hubship's default set, chats through the checkpoint's template).

lm_head and a vision-language model's vision tower stay in 16-bit. Both are built from `merged-16bit` by the
Compressor port (llm-compressor in an environment of its own, the `hubship[vllm]` extra; a missing one is refused
at plan time), then verified against `reference-logits` with the model loaded by transformers' compressed-tensors
integration, decompressed (docs/formats.md, docs/adr/021-compressed-tensors.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from hubship.application.format_builder import BuildContext
from hubship.application.formats.imatrix_calibration import calibration_options, calibration_params, load_calibration, render_calibration
from hubship.application.formats.memory import forward_bytes, torch_step
from hubship.application.formats.reference_logits import write_verification
from hubship.application.formats.sizes import bnb_bytes, merged_bytes, side_files_bytes
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.gguf_types import kind_of
from hubship.domain.plan import Estimate

METRICS = ("mean_kl", "top1_agreement", "top1_near")
# What stays in 16-bit: the output head, and a vision-language model's vision tower and projector (llm-compressor's
# own VLM examples ignore these names).
_VISION = ("vision_tower", "vision_model", "visual.", "multi_modal_projector")
IGNORE = ("lm_head", *(f"re:.*{re.escape(name)}.*" for name in _VISION))
GROUP_SIZE = 128  # W4A16's groups of input columns (compressed-tensors' preset)


def indivisible_layer(base: BaseInfo) -> tuple[str, int] | None:
    """The first linear layer W4A16 would quantize whose input columns are not a multiple of GROUP_SIZE (llm-compressor
    refuses it: SmolLM2's hidden size 576 is one), with its column count; None when every one fits."""
    for name, shape in base.tensors:
        if len(shape) != 2 or kind_of(name, shape) in ("norm", "token_embd", "output") or any(v in name for v in _VISION):
            continue
        if shape[1] % GROUP_SIZE:
            return name, shape[1]
    return None


# hubship's torch and transformers verify; llm-compressor's environment has its own, which quantize
TOOLS = (
    "torch",
    "transformers",
    "compressed_tensors",
    "safetensors",
    "llmcompressor",
    "llmcompressor_compressed_tensors",
    "llmcompressor_transformers",
    "llmcompressor_torch",
)


def _format(name: str, description: str) -> Format:
    """A compressed-tensors format: quantized from the merged model, measured against the reference logits."""
    return Format(
        name=name,
        relation="quantized",
        description=description,
        builds_from=("merged-16bit", "reference-logits"),
        library_name="transformers",
        tools=TOOLS,
        metrics=METRICS,
    )


class CompressedTensorsFormat:
    """One compressed-tensors scheme; the subclasses say which, and their default thresholds."""

    format: Format
    scheme: str
    calibrated: bool
    thresholds: ClassVar[Mapping[str, Mapping[str, float]]]

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {"scheme": self.scheme, "ignore": list(IGNORE), **(calibration_params(options) if self.calibrated else {})}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        if self.scheme == "W4A16" and (found := indivisible_layer(base)):
            raise UserInputError(
                f"w4a16 quantizes in groups of {GROUP_SIZE} input columns, and {found[0]} has {found[1]};"
                " publish fp8-dynamic or a GGUF quantization of this model instead"
            )
        if self.calibrated:
            load_calibration(calibration_options(params))  # a file that is not calibration text fails here

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        if reason := services["compressor"].missing():
            raise UserInputError(reason)
        if self.calibrated and params["calibration_path"]:  # the user's conversations must render through the template
            render_calibration(load_calibration(calibration_options(params)), checkpoint, base, services["chat_renderer"], strict=True)

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        sixteen, four = merged_bytes(base, "bf16"), bnb_bytes(base, False)
        quantized = (sixteen - four) * 2 // 3  # elements in quantized Linear layers (2 bytes each in 16-bit, ~0.5 in 4-bit)
        weights = four if self.scheme == "W4A16" else sixteen - quantized
        size = weights + side_files_bytes(checkpoint, base)
        # llm-compressor's process holds the model at its own dtype, its quantized copy, and (GPTQ) a layer's inputs
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(merged_bytes(base, "fp32") + weights + forward_bytes(base)))

    def build(self, ctx: BuildContext) -> None:
        text = None
        if self.calibrated:
            strict = bool(ctx.params["calibration_path"])
            calibration = load_calibration(calibration_options(ctx.params))
            text = render_calibration(calibration, ctx.checkpoint, ctx.base, ctx.service("chat_renderer"), strict=strict)
        ctx.service("compressor").compress(
            ctx.inputs["merged-16bit"],
            ctx.out_dir,
            scheme=self.scheme,
            ignore=tuple(ctx.params["ignore"]),
            calibration=text,
            progress=ctx.progress,
        )
        notes = ctx.service("saver").save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)
        if self.calibrated:
            notes = (*notes, f"GPTQ calibrated on {ctx.params['calibration_label']}")
        write_verification(ctx, METRICS, self.thresholds, notes=notes)

    def usage(self, repo_or_path: str) -> str:
        return (
            "```sh\n"
            f"vllm serve {repo_or_path}\n"
            "```\n\n"
            "```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            "# needs `pip install compressed-tensors`; transformers decompresses the weights where vLLM is not at hand\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo_or_path}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )


class Fp8DynamicFormat(CompressedTensorsFormat):
    format = _format("fp8-dynamic", "The merged model in FP8 with dynamic per-token activation scales (compressed-tensors, for vLLM)")
    scheme = "FP8_DYNAMIC"
    calibrated = False
    thresholds: ClassVar[Mapping[str, Mapping[str, float]]] = {"mean_kl": {"max": 0.02}}


class W4a16Format(CompressedTensorsFormat):
    format = _format("w4a16", "The merged model with INT4 weights by GPTQ, 16-bit activations (compressed-tensors, for vLLM)")
    scheme = "W4A16"
    calibrated = True
    thresholds: ClassVar[Mapping[str, Mapping[str, float]]] = {"mean_kl": {"max": 0.1}}
