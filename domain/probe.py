"""How long the verification probe is: the full probe where a lossy artifact is measured on it, a short read-back
probe where every consumer checks its values tensor by tensor and reads back only to catch structural mistakes
(docs/adr/023)."""

from __future__ import annotations

from collections.abc import Mapping

from hubship.domain.formats import Format
from hubship.domain.plan import format_closure

REFERENCE = "reference-logits"
FULL_PROBE_TOKENS = 256
READBACK_PROBE_TOKENS = 32


def probe_tokens(requested: tuple[str, ...], formats: Mapping[str, Format]) -> int:
    """The reference's length for a plan of `requested`: READBACK_PROBE_TOKENS when every format built from the
    reference only reads back against it (`Format.readback`), else FULL_PROBE_TOKENS."""
    consumers = [formats[f] for f in format_closure(requested, formats) if REFERENCE in formats[f].builds_from]
    return READBACK_PROBE_TOKENS if consumers and all(f.readback for f in consumers) else FULL_PROBE_TOKENS
