"""The base yardstick: a breached default quality bound measured against what the same format loses on the base.

A format such as nf4 or q4_k_m loses what it loses on a given model; a fine-tune of that model loses about as
much. So when an artifact breaks a *default* bound, the same format is built from the base alone and measured
against the base's own logits; the artifact passes when its loss is within a margin of the base's:

- a maximum (`mean_kl`, `max_abs_diff`): value <= base x FACTOR + slack (SLACK: 0.01 nats for `mean_kl`);
- a minimum (`top1_agreement`, `top1_near`): value >= base - TOP1_SLACK.

The margin (docs/formats-quality.md, docs/adr/014-quality-gate-yardstick.md): on the tiny lossy test model a
correct nf4 artifact lost 1.14x the base's KL, while a merge that lost the adapter, halved or doubled its delta
lost 2.3x to 3.9x. The yardstick only loosens a breached default bound, never tightens one, and never
touches a bound the user set (`--threshold`, `[thresholds]`). Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hubship.domain.quality import breaches

FACTOR = 1.5
SLACK = {"mean_kl": 0.01}
TOP1_SLACK = 0.05
RELAXABLE = ("mean_kl", "max_abs_diff", "top1_agreement", "top1_near")  # losses a format has on any model; not chat proofs


def base_bound(metric: str, direction: str, base_value: float) -> float:
    """The bound the base's own loss allows for `metric` (`direction` max or min)."""
    if direction == "max":
        return base_value * FACTOR + SLACK.get(metric, 0.0)
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
) -> dict[str, dict[str, float]]:
    """The bounds in force once the base's figures are known: each breached default bound loosened to what the base
    allows (when that is looser), every other bound as it was."""
    result = {metric: dict(bounds) for metric, bounds in thresholds.items()}
    for metric in breached_defaults(metrics, thresholds, user_set):
        base_value = base_metrics.get(metric)
        if not isinstance(base_value, int | float):
            continue
        for direction, bound in thresholds[metric].items():
            allowed = base_bound(metric, direction, float(base_value))
            result[metric][direction] = max(bound, allowed) if direction == "max" else min(bound, allowed)
    return result
