"""Format `merged-16bit` (alias `model-16bit`): base + adapter merged into one model, as safetensors in the
base's dtype; for a full fine-tune, the model itself (cast to `--dtype` and re-sharded).

Built by the Merger port (streaming: bounded memory), then verified in two ways (docs/adr/023): every written
tensor against what peft's own per-layer merge gives for its layer (MergeCheck: `merge_error`, in ulps of the
output dtype), and the written files read back on the short probe of `reference-logits` (max abs diff and mean KL
of its logits, against per-dtype default thresholds, docs/formats-quality.md), which catches structural mistakes.
Where the per-layer check cannot name a layer in the files (LoRAs on fused MoE experts, renamed modules), the
build computes the full 256-token reference itself and reads back against that. With `--verify off` the
reference is empty and both checks are skipped.

An adapter trained on a quantized base (QLoRA) merges onto that base as bitsandbytes dequantizes it: what it
was trained on. `--merge-onto PATH` merges onto other weights instead (the original 16-bit model); that merge is
not expected to equal the reference, so it is gated like a quantization (ONTO_THRESHOLDS) and its card says
how far it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import forward_bytes, merge_bytes, torch_step
from hubship.application.formats.reference_logits import reference_file, write_verification
from hubship.application.formats.sizes import DTYPE_BYTES, merged_bytes, side_files_bytes
from hubship.domain.backend import BACKEND_TOOL
from hubship.domain.checkpoint import BaseInfo, Checkpoint, unmergeable_reason
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.domain.probe import FULL_PROBE_TOKENS, READBACK_PROBE_TOKENS
from hubship.domain.suggest import did_you_mean

# Rounding W + dW once to the output dtype is all a correct merge changes; a broken one (lost scaling,
# stale tied head) gives KL of 1e-2 and more. max_abs_diff is a coarse guard, mean_kl the sharp one.
# A vision-language model's vision tower is checked tensor by tensor (the logits run the text path): every tensor
# the adapter does not reach is the base's to the bit, every one it reaches differs from the base's.
VISION = {"vision_tensors_wrong": {"max": 0.0}}
THRESHOLDS: dict[str, dict[str, dict[str, float]]] = {
    "fp32": {"max_abs_diff": {"max": 1e-3}, "mean_kl": {"max": 1e-6}, **VISION},
    "fp16": {"max_abs_diff": {"max": 0.25}, "mean_kl": {"max": 1e-4}, **VISION},
    "bf16": {"max_abs_diff": {"max": 1.0}, "mean_kl": {"max": 1e-3}, **VISION},
}
METRICS = ("max_abs_diff", "mean_kl", "merge_error", "vision_tensors", "vision_tensors_wrong")  # the vision ones for such models only
# a correct merge rounds peft's fp32 value once: half an ulp of the output dtype (fp32: its own sums' rounding too)
MERGE_ERROR = {"fp32": {"max": 64.0}, "fp16": {"max": 0.51}, "bf16": {"max": 0.51}}
FALLBACK_REFERENCE = ".full-reference.safetensors"
# Merged onto weights other than those trained on: held to what a 4-bit quantization must keep (merged-4bit's).
ONTO_THRESHOLDS = {"mean_kl": {"max": 0.1}}
ONTO_METRICS = ("max_abs_diff", "mean_kl", "top1_agreement", "top1_near")


class Merged16bitFormat:
    format = Format(
        name="merged-16bit",
        relation="merge",
        description="The model with its LoRA adapter merged in",
        builds_from=("reference-logits",),
        library_name="transformers",
        tools=("torch", "transformers", "peft", "safetensors", BACKEND_TOOL),  # hf or unsloth: in the key and manifest
        metrics=(*ONTO_METRICS, "merge_error"),  # METRICS, and with --merge-onto the top-1 agreements too
        readback=True,  # checked tensor by tensor: the reference need only be the short read-back probe
    )

    def readback_for(self, options: Mapping[str, Any]) -> bool:
        """A merge onto other weights (--merge-onto) is measured like a quantization: on the full probe."""
        return not options.get("merge_onto")

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        dtype = options.get("dtype") or base.dtype
        if dtype not in DTYPE_BYTES:
            raise UserInputError(f"unsupported dtype {dtype!r}; {did_you_mean(str(dtype), DTYPE_BYTES, 'use --dtype bf16, fp16 or fp32')}")
        params = {"dtype": dtype, "max_shard_size": int(options.get("max_shard_size") or 5 * 1000**3)}
        if base.merge_onto is not None:  # the weights merged onto, by name and content (never a local path)
            params["merge_onto"] = {"name": base.merge_onto.name, "files_key": base.merge_onto.files_key}
        return params

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        reason = unmergeable_reason(checkpoint.adapter_config)
        if reason:
            raise UserInputError(f"{reason} cannot be merged into its base model; publish it with --format lora")

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        onto = base.merge_onto.info if base.merge_onto else base
        size = merged_bytes(onto, params["dtype"]) + side_files_bytes(checkpoint, base)
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(max(merge_bytes(checkpoint, onto), forward_bytes(base))))

    def build(self, ctx: BuildContext) -> None:
        onto = ctx.base.merge_onto
        ctx.service("merger").merge(
            ctx.checkpoint,
            onto.info if onto else ctx.base,
            ctx.out_dir,
            dtype=ctx.params["dtype"],
            max_shard_bytes=ctx.params["max_shard_size"],
            progress=ctx.progress,
        )
        notes = ctx.service("saver").save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)
        if onto is None:
            self._verify(ctx, notes)
        else:
            note = (
                f"merged onto {onto.name} (--merge-onto), not the weights the adapter was trained on: the figures say how far"
                " this model is from the adapter as trained"
            )
            write_verification(ctx, ONTO_METRICS, ONTO_THRESHOLDS, notes=(note, *notes))

    def _verify(self, ctx: BuildContext, notes: tuple[str, ...]) -> None:
        """The per-tensor check, then the read-back probe; the full probe both ways where the check cannot cover a layer."""
        if reference_file(ctx) is None:
            return  # --verify off
        dtype = ctx.params["dtype"]
        checked = ctx.service("merge_check").check(ctx.checkpoint, ctx.base, ctx.out_dir, dtype, ctx.progress)
        thresholds = {**THRESHOLDS[dtype], "merge_error": MERGE_ERROR[dtype]}
        if not checked["uncovered"]:
            note = f"each of the {checked['tensors']} tensors checked against peft's own merge of its layer"
            measured = {"merge_error": checked["merge_error"]}
            write_verification(ctx, METRICS, thresholds, notes=(*notes, note), measured=measured, tokens=READBACK_PROBE_TOKENS)
            return
        full = ctx.out_dir / FALLBACK_REFERENCE  # not published: removed once compared
        try:
            ctx.service("verifier").reference(ctx.checkpoint, ctx.base, full, ctx.progress, tokens=FULL_PROBE_TOKENS)
            probed = tuple(m for m in METRICS if m != "merge_error")  # the vision tower's included
            write_verification(ctx, probed, THRESHOLDS[dtype], notes=notes, reference=full)
        finally:
            full.unlink(missing_ok=True)

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo_or_path}")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )
