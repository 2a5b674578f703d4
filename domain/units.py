"""Byte counts as people read them: `105.5 MB`, `1.52 GB` (decimal units, as disks and the Hub count)."""

from __future__ import annotations


def human_bytes(n: int | float) -> str:
    """`n` bytes in kB, MB or GB with three significant figures or so: 0.9 kB, 105.5 MB, 14.96 GB."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.1f} MB"
    return f"{n / 1e3:.1f} kB"
