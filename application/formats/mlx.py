"""MLX formats (entry point `mlx`): `mlx-4bit`, `mlx-8bit` and `mlx-16bit`, the merged model converted by mlx-lm's
own conversion (`mlx_lm.convert`: affine quantization, mlx-lm's default group size 64) for Apple silicon (mlx-lm,
LM Studio's MLX engine). Needs the `hubship[mlx]` extra; mlx runs on Linux CPUs too, so hubship verifies here.

Each is verified with mlx-lm itself (adapters/mlx): the artifact as `mlx_lm.load` loads it, and the merged model
as mlx-lm runs it unquantized, both on the reference's probe. The difference from the fine-tune is split in two,
in the figures, the gate and the card (docs/formats.md, "MLX"):

- `runtime_kl`: mlx-lm's 16-bit run against the reference: what MLX itself does differently (its arithmetic in the
  weights' dtype, its implementation of the architecture, the conversion). Gated at RUNTIME_KL_MAX: a merge that lost
  the adapter, or a conversion that lost the model's RoPE settings, fails here.
- `quantization_kl`: the artifact against that 16-bit run: what 4 or 8 bits lost, gated per bit width.

`mean_kl` (the artifact against the reference: both together) is reported. Each default bound is a loss the base
yardstick may loosen (domain/yardstick.py), as for every lossy format.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import logits_bytes, torch_step
from hubship.application.formats.reference_logits import reference_file
from hubship.application.formats.sizes import DTYPE_BYTES, merged_bytes, n_params, side_files_bytes
from hubship.application.node_build import save_verification
from hubship.domain.artifact_sizes import elements
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate

GROUP_SIZE = 64  # mlx-lm's default for affine quantization (mlx_lm.utils.quantize_model)
SCALE_BYTES = 2  # a scale and a bias per group, in the model's 16-bit dtype
METRICS = ("mean_kl", "max_abs_diff", "top1_agreement", "top1_near", "runtime_kl", "runtime_top1", "quantization_kl", "quantization_top1")
RUNTIME_KL_MAX = 0.02  # 16-bit arithmetic, where merged-16bit is checked in fp32 (1e-3); ceiling 5x: 0.1
QUANTIZATION_KL_MAX = {4: 0.1, 8: 0.01}
EXTRA = "format {name} needs the mlx extra (mlx-lm); pip install 'hubship[mlx]'"


def mlx_bytes(base: BaseInfo, bits: int | None) -> int:
    """The MLX weights: what mlx-lm quantizes (2-d weights whose rows divide into groups) at `bits` plus a scale and a
    bias per group; everything else at the base's dtype."""
    width = DTYPE_BYTES.get(base.dtype, 2)
    if bits is None or not base.tensors:
        return merged_bytes(base, base.dtype) if base.tensors else n_params(base) * width * (bits or 16) // 16
    total = 0
    for _, shape in base.tensors:
        count = elements(shape)
        quantized = len(shape) == 2 and shape[-1] % GROUP_SIZE == 0
        total += count * bits // 8 + count // GROUP_SIZE * 2 * SCALE_BYTES if quantized else count * width
    return total


class MlxFormat:
    """`mlx-<bits>bit`: the merged model through mlx_lm.convert, verified with mlx-lm."""

    def __init__(self, bits: int | None) -> None:
        self.bits = bits
        label = f"{bits}-bit" if bits else "16-bit (unquantized)"
        self.format = Format(
            name=f"mlx-{bits or 16}bit",
            relation="quantized",
            description=f"The merged model in MLX, {label}, for mlx-lm and LM Studio on Apple silicon",
            builds_from=("merged-16bit", "reference-logits"),
            library_name="mlx",
            tools=("mlx", "mlx_lm", "transformers", "safetensors"),
            metrics=METRICS,
        )

    def thresholds(self) -> dict[str, dict[str, float]]:
        found = {"runtime_kl": {"max": RUNTIME_KL_MAX}}
        if self.bits:
            found["quantization_kl"] = {"max": QUANTIZATION_KL_MAX[self.bits]}
        return found

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {"bits": self.bits, "group_size": GROUP_SIZE if self.bits else None}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        if any(importlib.util.find_spec(name) is None for name in ("mlx", "mlx_lm")):
            raise UserInputError(EXTRA.format(name=self.format.name))

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        reason = services["mlx_converter"].unsupported(base.model_type, base.architecture)
        if reason:
            raise UserInputError(f"format {self.format.name}: {reason}; publish merged-16bit or a gguf-<quant> format instead")

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = mlx_bytes(base, self.bits) + side_files_bytes(checkpoint, base)
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(merged_bytes(base, base.dtype) + size + logits_bytes(base)))

    def build(self, ctx: BuildContext) -> None:
        merged = ctx.inputs["merged-16bit"]
        notes = ctx.service("mlx_converter").convert(merged, ctx.out_dir, bits=self.bits, progress=ctx.progress)
        notes += ctx.service("saver").save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)
        reference = reference_file(ctx)
        if reference is None:
            return  # --verify off
        measured = ctx.service("mlx_verifier").measure(ctx.out_dir, merged, reference, ctx.progress)
        notes += (self.split_note(measured),)
        record = {"metrics": {m: measured[m] for m in METRICS}, "thresholds": self.thresholds(), "notes": list(notes)}
        save_verification(ctx.out_dir, record)

    def split_note(self, measured: Mapping[str, float]) -> str:
        """One sentence for the card that tells what MLX itself changes from what the quantization lost."""
        runtime = (
            f"mlx-lm's own unquantized run of the merged model differs from the fine-tune by a mean KL of {measured['runtime_kl']:.3g}"
            f" nats (runtime_kl; top-1 agreement {measured['runtime_top1']:.3g}): that is how MLX runs this model, before any"
            " quantization"
        )
        if not self.bits:
            return runtime + "."
        return (
            f"Of this artifact's mean KL of {measured['mean_kl']:.3g} from the fine-tune, {runtime}; the {self.bits}-bit quantization"
            f" adds {measured['quantization_kl']:.3g} (quantization_kl, against that unquantized run)."
        )

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "# pip install mlx-lm   (Apple silicon; on Linux: pip install mlx-lm 'mlx[cpu]')\n"
            "from mlx_lm import generate, load\n\n"
            f'model, tokenizer = load("{repo_or_path}")\n'
            'messages = [{"role": "user", "content": "Hello!"}]\n'
            "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True)\n"
            "print(generate(model, tokenizer, prompt=prompt, max_tokens=128))\n"
            "```\n\n"
            f'Or from a shell: `mlx_lm.generate --model {repo_or_path} --prompt "Hello!"`'
        )


def mlx_formats() -> list[MlxFormat]:
    """The MLX family (entry point `mlx`)."""
    return [MlxFormat(4), MlxFormat(8), MlxFormat(None)]
