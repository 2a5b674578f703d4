"""Quality gates: measured figures of an artifact against per-format thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubship.domain.errors import UserInputError

VERIFICATION_FILE = ".verification.json"


def breaches(metrics: Mapping[str, Any], thresholds: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Each threshold the metrics break, as `metric=value > max` sentences.

    `thresholds` maps a metric to {"max": x} and/or {"min": y}; a metric that was not measured
    breaks nothing (verification may be off).
    """
    found = []
    for metric, bounds in sorted(thresholds.items()):
        value = metrics.get(metric)
        if not isinstance(value, int | float):
            continue
        if "max" in bounds and value > bounds["max"]:
            found.append(f"{metric}={value:.4g} > {bounds['max']:.4g}")
        if "min" in bounds and value < bounds["min"]:
            found.append(f"{metric}={value:.4g} < {bounds['min']:.4g}")
    return found


def parse_threshold(text: str) -> tuple[str, str, float]:
    """A `--threshold FORMAT.METRIC=VALUE` (e.g. `merged-16bit.mean_kl=1e-6`) split into its parts."""
    target, sep, value = text.partition("=")
    fmt, dot, metric = target.strip().partition(".")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not dot or not fmt or not metric or number != number:
        raise UserInputError(f"invalid threshold {text!r}; use FORMAT.METRIC=VALUE, e.g. merged-16bit.mean_kl=1e-6")
    return fmt.lower(), metric, number


def resolve_thresholds(
    defaults: Mapping[str, Mapping[str, float]], overrides: Mapping[str, float | Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """The format's default thresholds with a user's overrides; a bare number keeps the default's direction
    (`min` for metrics where higher is better, such as top1_agreement; `max` otherwise)."""
    resolved = {metric: dict(bounds) for metric, bounds in defaults.items()}
    for metric, value in overrides.items():
        if isinstance(value, Mapping):
            resolved[metric] = dict(value)
        else:
            direction = "min" if "min" in defaults.get(metric, {}) and "max" not in defaults.get(metric, {}) else "max"
            resolved[metric] = {direction: float(value)}
    return resolved
