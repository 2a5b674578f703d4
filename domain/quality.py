"""Quality gates: measured figures of an artifact against per-format thresholds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hubship.domain.errors import UserInputError
from hubship.domain.formats import canonical_format
from hubship.domain.suggest import did_you_mean

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
    """A `--threshold FORMAT.METRIC=VALUE` (e.g. `merged-16bit.mean_kl=1e-6`) split into its parts; a format alias
    (`model-16bit`) is read as its format."""
    target, sep, value = text.partition("=")
    fmt, dot, metric = target.strip().partition(".")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not dot or not fmt or not metric or number != number:
        raise UserInputError(f"invalid threshold {text!r}; use FORMAT.METRIC=VALUE, e.g. merged-16bit.mean_kl=1e-6")
    return canonical_format(fmt), metric, number


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


def check_threshold_names(
    thresholds: Mapping[str, Mapping[str, Any]], measured: Mapping[str, tuple[str, ...]], listed: Sequence[str]
) -> None:
    """UserInputError, one line with the valid names, for a threshold on a format hubship does not know or on a metric
    that format does not measure. `measured`: every known format's metrics (built-ins and plugins, requested or
    not); `listed`: the formats the message offers (those a user requests)."""
    offered = ", ".join(f for f in listed if measured.get(f))
    for fmt, bounds in thresholds.items():
        if fmt not in measured:
            hint = did_you_mean(fmt, [f for f in listed if measured.get(f)])
            raise UserInputError(
                f"--threshold names unknown format {fmt!r}; {hint + ' ' if hint else ''}formats with thresholds: {offered}"
            )
        for metric in bounds:
            known = measured[fmt]
            if not known:
                raise UserInputError(
                    f"--threshold {fmt}.{metric}: {fmt} measures nothing a threshold can bound; formats with thresholds: {offered}"
                )
            if metric not in known:
                hint = did_you_mean(metric, known)
                hint = hint + " " if hint else ""
                raise UserInputError(
                    f"--threshold names {metric!r}, which {fmt} does not measure; {hint}{fmt} measures: {', '.join(known)}"
                )
