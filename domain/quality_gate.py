"""Why a quality gate stopped a publish, and the real ways out: a higher-bit format, a looser threshold, or
`--accept-quality-loss`. Pure: the facts come from each artifact's verification record and its params."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from hubship.domain.gguf_quants import QUANTS

# The GGUF quantizations worth moving up to, in order of size (llama.cpp's usual recommendations).
GGUF_LADDER = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


def higher_bit_format(fmt: str, params: Mapping[str, Any]) -> str | None:
    """The next format up with more bits per weight, as a user would ask for it; None when there is none."""
    if fmt == "merged-4bit":
        return "merged-16bit"
    if fmt == "merged-16bit":
        return None if params.get("dtype") == "fp32" else "merged-16bit --dtype fp32"
    bpw = {q.format_name: q.bpw for q in QUANTS}
    if fmt not in bpw:
        return None
    up = [q for q in GGUF_LADDER if bpw[f"gguf-{q.lower()}"] > bpw[fmt]]
    return f"gguf-{up[0].lower()}" if up else None


def loosened(value: float, direction: str) -> float:
    """`value` rounded outward to two significant digits: a bound it meets (`max`: up, `min`: down)."""
    if value == 0 or not math.isfinite(value):
        return value
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    return (math.ceil if direction == "max" else math.floor)(round(value / step, 6)) * step


def _base_note(base: Mapping[str, Any]) -> str:
    """What the base yardstick said about a breach: the same format's loss on the base, or why there was none."""
    if base.get("metrics"):
        figures = ", ".join(f"{m}={v:.4g}" for m, v in base["metrics"].items() if m in base.get("defaults", {}))
        held = base.get("ceiling") or {}
        if held.get("metrics"):
            figures += (
                f"; past the yardstick's ceiling: it loosens {', '.join(held['metrics'])} at most {held['factor']:g}x the"
                " default, as a systematic bug in the quantizer or converter raises the base's loss too"
            )
        return f" (on the base model: {figures})"
    if base.get("unavailable"):
        return f" (no base yardstick: {base['unavailable']})"
    return ""


def gate_message(failed: Mapping[str, Mapping[str, Any]], params: Mapping[str, Mapping[str, Any]]) -> str:
    """The one-line QualityGateFailed message for `failed` ({format: verification record with `metrics` and
    `thresholds`}), naming each breach and the three ways out, with values that would work."""
    found, higher, loosen = [], [], []
    for fmt, record in failed.items():
        metrics, thresholds = record.get("metrics") or {}, record.get("thresholds") or {}
        broken = []
        for metric, bounds in sorted(thresholds.items()):
            value = metrics.get(metric)
            if not isinstance(value, int | float):
                continue
            for direction, sign in (("max", ">"), ("min", "<")):
                if direction in bounds and (value > bounds[direction] if direction == "max" else value < bounds[direction]):
                    broken.append(f"{metric}={value:.4g} {sign} {bounds[direction]:.4g}")
                    loosen.append(f"--threshold {fmt}.{metric}={loosened(float(value), direction):.2g}")
        found.append(f"{fmt}: {', '.join(broken)}{_base_note(record.get('base') or {})}")
        up = higher_bit_format(fmt, params.get(fmt) or {})
        if up:
            higher.append(up)
    ways = []
    if higher:
        ways.append(f"publish a higher-bit format ({', '.join(dict.fromkeys(higher))})")
    ways.append(f"set a looser threshold ({' '.join(loosen)})")
    ways.append("or pass --accept-quality-loss to publish anyway")
    return f"quality gate failed, nothing was published ({'; '.join(found)}); {', '.join(ways)}"
