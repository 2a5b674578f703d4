"""hubship format `merged-8bit`: the merged model with its linear layers in bitsandbytes LLM.int8.

Registered under the entry-point group `hubship.formats` (see pyproject.toml). It is built from
the `merged-16bit` artifact, which hubship builds first and shares with every format that needs it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
PROBE_TEXT = "The quick brown fox jumps over the lazy dog. A merged model must keep its answers."
MIN_TOP1_AGREEMENT = 0.5  # a smoke check on a short text: the 8-bit model still predicts like the 16-bit one


def _top1_agreement(reference: Path, quantized: Any, device: str) -> dict[str, float]:
    """Next-token agreement and largest logit gap between the 16-bit model and the 8-bit one, on PROBE_TEXT."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(reference)(PROBE_TEXT, return_tensors="pt").input_ids.to(device)
    full = AutoModelForCausalLM.from_pretrained(reference, dtype=torch.float32).to(device).eval()
    with torch.no_grad():
        want, got = full(ids).logits.float(), quantized(ids).logits.float()
    return {
        "top1_agreement": (want.argmax(-1) == got.argmax(-1)).float().mean().item(),
        "max_abs_logit_diff": (want - got).abs().max().item(),
    }


class Merged8bitFormat:
    format = Format(
        name="merged-8bit",
        relation="quantized",
        description="The merged model with its linear layers in 8-bit (bitsandbytes LLM.int8)",
        builds_from=("merged-16bit",),
        library_name="transformers",
        tools=("torch", "transformers", "bitsandbytes"),
        metrics=("top1_agreement",),  # what `--threshold merged-8bit.METRIC=VALUE` may bound
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        """What changes the output (it goes into the artifact's content key)."""
        return {"llm_int8_threshold": 6.0}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        """Plan-time preflight, in seconds: fail before any merge starts."""
        if importlib.util.find_spec("bitsandbytes") is None:
            raise UserInputError("format merged-8bit needs bitsandbytes; pip install bitsandbytes")

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        count = base.parameter_bytes // DTYPE_BYTES.get(base.dtype, 2)
        size = count * 3 // 2  # int8 linear layers; embeddings, norms and the head stay 16-bit
        return Estimate(size_bytes=size, peak_memory_bytes=count * 4 + size)

    def build(self, ctx: BuildContext) -> None:
        import torch
        from transformers import AutoModelForCausalLM, BitsAndBytesConfig

        merged = ctx.inputs["merged-16bit"]
        device = "cuda" if torch.cuda.is_available() else "cpu"
        config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=ctx.params["llm_int8_threshold"])
        with ctx.progress.task("quantize merged-8bit (bitsandbytes)", total=3, unit="steps") as task:
            try:
                model = AutoModelForCausalLM.from_pretrained(merged, quantization_config=config, device_map=device, dtype=torch.float16)
            except (RuntimeError, ValueError, ImportError) as exc:
                raise PublishError(f"8-bit quantization failed: {str(exc).splitlines()[0]}") from None
            task.advance()
            model.save_pretrained(ctx.out_dir, safe_serialization=True)
            task.advance()
            metrics = _top1_agreement(merged, model, device)
            task.advance()
        verification = {"metrics": metrics, "thresholds": {"top1_agreement": {"min": MIN_TOP1_AGREEMENT}}}
        (ctx.out_dir / ".verification.json").write_text(json.dumps(verification, indent=2))
        ctx.service("saver").save_tokenizer(ctx.checkpoint, ctx.base, ctx.out_dir)

    def usage(self, repo_or_path: str) -> str:
        return (
            "```python\n"
            "from transformers import AutoModelForCausalLM, AutoTokenizer  # needs bitsandbytes installed\n\n"
            f'model = AutoModelForCausalLM.from_pretrained("{repo_or_path}", device_map="auto")\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_or_path}")\n'
            "```"
        )
