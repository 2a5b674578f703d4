"""One table comparing every GGUF quantization a repo holds, for a person choosing one: size, bits per weight,
and how far each is from the trained model (mean KL, top-1 agreement), largest first.

Pure text from each artifact's verification record (`{"metrics": {...}}`, as the manifest keeps it) and the
total size of its files. A quantization not measured (no reference logits) shows `—` in those columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from hubship.domain.units import human_bytes

HEADER = "| Quantization | Size | Bits per weight | Mean KL (lower is closer) | Top-1 agreement |\n|---|---:|---:|---:|---:|"
INTRO = "Every quantization in this repository, measured against the trained model's own next-token distribution:"
MISSING = "—"


@attrs.frozen(kw_only=True)
class QuantRow:
    """One quantization: its tag (Q4_K_M), its files' total size and what was measured of it (None: not measured)."""

    quant: str
    size_bytes: int
    bits_per_weight: float | None = None
    mean_kl: float | None = None
    top1_agreement: float | None = None


def quant_row(record: Mapping[str, Any], size_bytes: int) -> QuantRow | None:
    """The row of one artifact's verification record; None when it is not a GGUF quantization."""
    metrics = record.get("metrics") or {}
    if "quantization" not in metrics:
        return None

    def figure(name: str) -> float | None:
        value = metrics.get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    return QuantRow(
        quant=str(metrics["quantization"]),
        size_bytes=size_bytes,
        bits_per_weight=figure("bits_per_weight"),
        mean_kl=figure("mean_kl"),
        top1_agreement=figure("top1_agreement"),
    )


def _cell(value: float | None, text: str) -> str:
    return MISSING if value is None else text


def comparison_table(rows: Iterable[QuantRow]) -> str:
    """The markdown table, one line per quantization (largest first); empty for fewer than two."""
    ordered = sorted(rows, key=lambda r: (-r.size_bytes, r.quant))
    if len(ordered) < 2:
        return ""
    lines = [
        f"| {r.quant} | {human_bytes(r.size_bytes)} | {_cell(r.bits_per_weight, f'{r.bits_per_weight:.2f}')}"
        f" | {_cell(r.mean_kl, f'{r.mean_kl:.4g}')}"
        f" | {_cell(r.top1_agreement, f'{100 * (r.top1_agreement or 0):.1f}%')} |"
        for r in ordered
    ]
    return "\n".join([INTRO, "", HEADER, *lines])


def tables_by_location(items: Iterable[tuple[str, Mapping[str, Any], int]]) -> dict[str, str]:
    """Location -> the comparison table of the quantizations published there, from (location, record, size) items."""
    rows: dict[str, list[QuantRow]] = {}
    for location, record, size_bytes in items:
        row = quant_row(record, size_bytes)
        rows.setdefault(location, []).extend([row] if row else [])
    return {location: comparison_table(found) for location, found in rows.items()}
