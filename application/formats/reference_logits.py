"""Internal format `reference-logits`: what base + adapter, unmerged, predict on a fixed probe, computed once
(an adapter on a quantized base: on the base as bitsandbytes dequantizes it; a full fine-tune: the model itself).

Every artifact that is verified (merged-16bit, merged-4bit, the GGUF quantizations) lists it in
`builds_from` and compares its own logits with `reference.safetensors` (tensors `input_ids`,
int64 [T], and `logits`, float32 [T, vocab]). With `--verify off` the node writes no file and
its consumers skip verification. Never requested by a user, never published.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.memory import forward_bytes, torch_step
from hubship.application.node_build import save_verification
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.domain.probe import FULL_PROBE_TOKENS, REFERENCE
from hubship.domain.suggest import did_you_mean
from hubship.ports.verifier import REFERENCE_FILE

VERIFY_MODES = ("full", "off")


def verify_mode(options: Mapping[str, Any]) -> str:
    """The `--verify` option, checked (default full)."""
    mode = str(options.get("verify") or "full").lower()
    if mode not in VERIFY_MODES:
        raise UserInputError(f"invalid --verify {options.get('verify')!r}; {did_you_mean(mode, VERIFY_MODES, 'use full or off')}")
    return mode


def reference_file(ctx: BuildContext) -> Path | None:
    """The plan's reference logits, or None with `--verify off`."""
    reference = ctx.inputs.get(REFERENCE)
    return reference / REFERENCE_FILE if reference is not None and (reference / REFERENCE_FILE).is_file() else None


def write_verification(
    ctx: BuildContext,
    metrics: tuple[str, ...],
    thresholds: Mapping[str, Mapping[str, float]],
    notes: tuple[str, ...] = (),
    reference: Path | None = None,
    measured: Mapping[str, Any] | None = None,
    tokens: int | None = None,
) -> None:
    """Compare the built model with the reference logits (the plan's, or `reference`; none: --verify off) and record
    the figures for the quality gate (with those already `measured`), with `notes` for the card; `tokens`: read back
    on the probe's first ones only (None: all the reference has)."""
    reference = reference or reference_file(ctx)
    if reference is None:
        return  # --verify off
    figures = {**ctx.service("verifier").compare(ctx.out_dir, reference, ctx.progress, tokens), **(measured or {})}
    record: dict[str, Any] = {
        "metrics": {m: figures[m] for m in metrics if m in figures},  # the vision tower's: vision-language models only
        "thresholds": {m: dict(t) for m, t in thresholds.items() if m in metrics and m in figures},
    }
    if figures.get("device"):
        record["device"] = figures["device"]
    if notes:
        record["notes"] = list(notes)
    save_verification(ctx.out_dir, record)


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
        tokens = int(options.get("probe_tokens") or FULL_PROBE_TOKENS)  # the full probe's key stays as it was
        return {"verify": verify_mode(options)} | ({"tokens": tokens} if tokens != FULL_PROBE_TOKENS else {})

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        if params["verify"] == "off":
            return Estimate()
        size = int(params.get("tokens", FULL_PROBE_TOKENS)) * (base.vocab_size or 32_000) * 4
        return Estimate(size_bytes=size, peak_memory_bytes=torch_step(forward_bytes(base) + checkpoint.adapter_bytes))

    def build(self, ctx: BuildContext) -> None:
        if ctx.params["verify"] == "off":
            return
        tokens = int(ctx.params.get("tokens", FULL_PROBE_TOKENS))
        ctx.service("verifier").reference(ctx.checkpoint, ctx.base, ctx.out_dir / REFERENCE_FILE, ctx.progress, tokens=tokens)

    def usage(self, repo_or_path: str) -> str:
        return ""
