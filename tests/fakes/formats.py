from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate


class FakeQuantFormat:
    """A format built from merged-16bit that records its metrics, for DAG and quality-gate tests. With `thresholds`
    (its default bounds) it declares its metrics, as a real quantization does, so the base yardstick may hold a breach
    against the same fake built from the base (which measures the same: a quantizer broken the same way for both)."""

    def __init__(
        self,
        name: str,
        metrics: Mapping[str, float] | None = None,
        fail: bool = False,
        thresholds: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        declared = tuple(metrics or {}) if thresholds else ()
        self.format = Format(
            name=name, relation="quantized", description="A fake quantization", builds_from=("merged-16bit",), metrics=declared
        )
        self.metrics = dict(metrics or {})
        self.thresholds = dict(thresholds or {"kl": {"max": 0.1}})
        self.fail = fail
        self.builds = 0

    def params(self, options: Mapping[str, Any], base) -> dict[str, Any]:
        return {}

    def check(self, checkpoint, base, params) -> None:
        return None

    def estimate(self, checkpoint, base, params) -> Estimate:
        return Estimate(size_bytes=10)

    def build(self, ctx: BuildContext) -> None:
        self.builds += 1
        if self.fail:
            (ctx.out_dir / "half.bin").write_bytes(b"partial")
            raise RuntimeError("quantizer crashed")
        source = (ctx.inputs["merged-16bit"] / "model.safetensors").read_bytes()
        (ctx.out_dir / "quant.bin").write_bytes(source[::2])
        if self.metrics:
            (ctx.out_dir / ".verification.json").write_text(json.dumps({"metrics": self.metrics, "thresholds": self.thresholds}))

    def usage(self, repo_or_path: str) -> str:
        return f"use {repo_or_path}"
