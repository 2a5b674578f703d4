"""Internal format `reference-logits`: what base + adapter, unmerged, predict on a fixed probe, computed once
(an adapter on a quantized base: on the base as bitsandbytes dequantizes it; a full fine-tune: the model itself).

Every artifact that is verified (merged-16bit, merged-4bit, the GGUF quantizations) lists it in
`builds_from` and compares its own logits with `reference.safetensors` (tensors `input_ids`,
int64 [T], and `logits`, float32 [T, vocab]). With `--verify off` the node writes no file and
its consumers skip verification. Never requested by a user, never published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import PROBE_TOKENS, forward_bytes, torch_step
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.domain.quality import VERIFICATION_FILE
from hubship.domain.suggest import did_you_mean
from hubship.ports.verifier import REFERENCE_FILE

VERIFY_MODES = ("full", "off")


def verify_mode(options: Mapping[str, Any]) -> str:
    """The `--verify` option, checked (default full)."""
    mode = str(options.get("verify") or "full").lower()
    if mode not in VERIFY_MODES:
        raise UserInputError(f"invalid --verify {options.get('verify')!r}; {did_you_mean(mode, VERIFY_MODES, 'use full or off')}")
    return mode


def write_verification(
    ctx: BuildContext, metrics: tuple[str, ...], thresholds: Mapping[str, Mapping[str, float]], notes: tuple[str, ...] = ()
) -> None:
    """Compare the built model with the reference logits (when there are any) and record the figures for the quality
    gate, with `notes` for the card."""
    reference = ctx.inputs.get("reference-logits")
    if reference is None or not (reference / REFERENCE_FILE).is_file():
        return  # --verify off
    measured = ctx.service("verifier").compare(ctx.out_dir, reference / REFERENCE_FILE, ctx.progress)
    record: dict[str, Any] = {
        "metrics": {m: measured[m] for m in metrics if m in measured},  # the vision tower's: vision-language models only
        "thresholds": {m: dict(t) for m, t in thresholds.items() if m in metrics and m in measured},
    }
    if notes:
        record["notes"] = list(notes)
    (ctx.out_dir / VERIFICATION_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


class ReferenceLogitsFormat:
    format = Format(
        name="reference-logits",
        relation="finetune",
        description="Reference logits of base + adapter (unmerged) on hubship's probe, for verification",
        library_name="peft",
        tools=("torch", "transformers", "peft", "safetensors"),
        internal=True,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {"verify": verify_mode(options)}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        if params["verify"] == "off":
            return Estimate()
        size = PROBE_TOKENS * (base.vocab_size or 32_000) * 4
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(forward_bytes(base) + checkpoint.adapter_bytes))

    def build(self, ctx: BuildContext) -> None:
        if ctx.params["verify"] == "off":
            return
        ctx.service("verifier").reference(ctx.checkpoint, ctx.base, ctx.out_dir / REFERENCE_FILE, ctx.progress)

    def usage(self, repo_or_path: str) -> str:
        return ""
