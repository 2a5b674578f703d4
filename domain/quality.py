"""Quality gates: measured figures of an artifact against per-format thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
