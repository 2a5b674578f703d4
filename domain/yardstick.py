"""The base yardstick: a breached default quality bound measured against what the same format loses on the base.

A format such as nf4 or q4_k_m loses what it loses on a given model; a fine-tune of that model loses about as
much. So when an artifact breaks a *default* bound, the same format is built from the base alone and measured
against the base's own logits; the artifact passes when its loss is within a margin of the base's:

- a maximum (`mean_kl`, `max_abs_diff`): value <= base x FACTOR + SLACK_SHARE x the format's default bound;
- a minimum (`top1_agreement`, `top1_near`): value >= base - TOP1_SLACK.

The slack is a share of the format's own default, never an absolute amount: on a near-exact format
(merged-16bit, KL <= 1e-3 in bf16) whose base loses about nothing, the bound stays the format's own.

The yardstick runs the same converter and quantizer as the artifact, so a systematic bug in them raises both
losses and the bound would follow. A ceiling caps what it may loosen: a lossy format's bound at most
LOSSY_CEILING x its default (SmolLM2-135M's correct nf4, KL 0.32 against 0.1, passes), an exact format's
(relation `merge`: merged-16bit) at most EXACT_CEILING x. Beyond it the gate fails and says so.

The margin (docs/formats-quality.md, docs/adr/014-quality-gate-yardstick.md, 016): on the tiny lossy test model a
correct nf4 artifact lost 1.14x the base's KL, while a merge that lost the adapter, halved or doubled its delta
lost 2.3x to 3.9x. The yardstick only loosens a breached default bound, never tightens one, and never
touches a bound the user set (`--threshold`, `[thresholds]`). Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hubship.domain.quality import breaches

FACTOR = 1.5
SLACK_SHARE = 0.1  # of the format's default bound: 0.01 nats on nf4's KL 0.1, 1e-4 on a bf16 merge's 1e-3
TOP1_SLACK = 0.05
LOSSY_CEILING = 5.0  # a quantization's bound: at most 5x its default
EXACT_CEILING = 2.0  # a merge's (no loss but rounding): at most 2x its default
EXACT_RELATIONS = ("merge",)
# losses a format has on any model; not chat proofs. runtime_kl and quantization_kl: an MLX artifact's loss split into
# what mlx-lm's own 16-bit run differs by and what its quantization adds (application/formats/mlx.py)
RELAXABLE = ("mean_kl", "max_abs_diff", "top1_agreement", "top1_near", "runtime_kl", "quantization_kl")


NO_BASE_RELATIONS = ("adapter",)  # an adapter's conversion (gguf-lora): the base alone has no adapter to convert


def measured_on_base(relation: str) -> bool:
    """Whether a format of this card relation can be built from the base alone, and so held against a yardstick."""
    return relation not in NO_BASE_RELATIONS


def ceiling_factor(relation: str) -> float:
    """How far past its default a yardstick may loosen a format of this card relation (`merge`, `quantized`...)."""
    return EXACT_CEILING if relation in EXACT_RELATIONS else LOSSY_CEILING


def ceiling(direction: str, default: float, factor: float) -> float:
    """The loosest bound a yardstick may set from `default`: a maximum `factor` x it; a minimum (an agreement, a share
    of positions) allows at most `factor` x the default's shortfall from 1."""
    if direction == "max":
        return default * factor
    return 1.0 - (1.0 - default) * factor


def base_bound(direction: str, base_value: float, default: float) -> float:
    """The bound the base's own loss allows (`direction` max or min), with the slack a share of the `default`."""
    if direction == "max":
        return base_value * FACTOR + SLACK_SHARE * default
    return base_value - TOP1_SLACK


def breached_defaults(metrics: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, float]], user_set: Collection[str]) -> list[str]:
    """The relaxable metrics whose default bound (one the user did not set) the metrics break: what a yardstick may loosen."""
    found = []
    for metric, bounds in sorted(thresholds.items()):
        if metric not in user_set and metric in RELAXABLE and breaches(metrics, {metric: bounds}):
            found.append(metric)
    return found


def relaxed(
    metrics: Mapping[str, Any],
    thresholds: Mapping[str, Mapping[str, float]],
    user_set: Collection[str],
    base_metrics: Mapping[str, Any],
    factor: float = LOSSY_CEILING,
) -> tuple[dict[str, dict[str, float]], list[str]]:
    """The bounds in force once the base's figures are known, and the metrics the ceiling held: each breached default
    bound loosened to what the base allows (when that is looser), but never past `factor` x the default (`ceiling`);
    every other bound as it was."""
    result = {metric: dict(bounds) for metric, bounds in thresholds.items()}
    capped = []
    for metric in breached_defaults(metrics, thresholds, user_set):
        base_value = base_metrics.get(metric)
        if not isinstance(base_value, int | float):
            continue
        for direction, bound in thresholds[metric].items():
            allowed, cap = base_bound(direction, float(base_value), bound), ceiling(direction, bound, factor)
            if direction == "max":
                result[metric][direction] = max(bound, min(allowed, cap))
                held = allowed > cap
            else:
                result[metric][direction] = min(bound, max(allowed, cap))
                held = allowed < cap
            if held and metric not in capped:
                capped.append(metric)
    return result, capped
