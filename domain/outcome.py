"""The end of a publish as a person reads it: one line per artifact and destination, saying where it went, how
big it is, and how its measured figures compare with their thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from hubship.domain.quality_table import quality_rows, summary_phrase
from hubship.domain.units import human_bytes


@attrs.frozen(kw_only=True)
class ArtifactOutcome:
    """One artifact at one destination. `where` is a URL for hf:, a folder for dir:, a model name for ollama:;
    `verification` is its quality record (metrics, thresholds); `command` is what the user runs to finish
    (`ollama create ...` when no Ollama server answered)."""

    destination: str
    format: str
    status: str
    where: str
    size_bytes: int
    verification: Mapping[str, Any] = attrs.field(factory=dict)
    command: str | None = None

    @property
    def quality(self) -> str:
        """`mean_kl 2e-08 ≤ 1e-06: pass`, `not measured`, ..."""
        return summary_phrase(quality_rows(self.verification))

    def line(self) -> str:
        """`published  merged-16bit  https://huggingface.co/me/smol  1.77 MB  mean_kl 2e-08 ≤ 1e-06: pass`."""
        return f"{self.status}: {self.format} -> {self.where} ({human_bytes(self.size_bytes)}; {self.quality})"
