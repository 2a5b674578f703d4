"""The base yardstick: the same format built from the base model alone, measured against the base's own logits.

When an artifact breaks a default quality bound (domain/yardstick.py), the gate asks how much the same format
loses on the base. The base is published as a full fine-tune would be (its own weights are the model; its
reference is its own logits): the same plan nodes with the same output-changing params (the bnb settings, the
GGUF quantization and imatrix choice), under the name YARDSTICK_NAME, so every key depends only on the base's
file hashes, the format, those params and the tool versions. Each node lands in the workspace under that key:
a later publish of any fine-tune of the same base finds the figures there and builds nothing.

No yardstick (and the absolute bounds decide alone) for a full fine-tune (its upstream base is not on disk), a
quantized base (QLoRA on a 4-bit base: nothing unquantized to measure) or a base that cannot be built.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.format_registry import FormatRegistry
from hubship.application.node_build import build_node, verification_of
from hubship.application.plan_publish import PlannedPublish
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.plan import PublishPlan, build_plan, content_key, format_closure
from hubship.domain.yardstick import RELAXABLE
from hubship.ports.checkpoint_reader import CheckpointReader
from hubship.ports.progress import Progress
from hubship.ports.workspace import Workspace

YARDSTICK_NAME = "base-yardstick"  # the publish name the base's builds use (GGUF file names carry it)


def unavailable_reason(planned: PlannedPublish) -> str | None:
    """Why no base yardstick can be built for this publish; None when one can."""
    if planned.checkpoint.is_full:
        return "a full fine-tune: its upstream base model is not on disk to measure"
    if planned.base.quantization is not None:
        return f"the base model is itself quantized ({planned.base.quantization.bits}-bit): there is no unquantized base to measure"
    return None


class BaseYardstick:
    def __init__(
        self, reader: CheckpointReader, workspace: Workspace, formats: FormatRegistry, progress: Progress, services: Mapping[str, Any]
    ) -> None:
        self._reader = reader
        self._workspace = workspace
        self._formats = formats
        self._progress = progress
        self._services = services

    def _plan(self, planned: PlannedPublish, fmt: str) -> tuple[PublishPlan, Checkpoint, BaseInfo]:
        """The base's own plan for `fmt`: the base read as a full fine-tune, each node keyed by what changes its output."""
        base = attrs.evolve(planned.base, merge_onto=None)
        checkpoint = self._reader.read(Path(base.path))
        options = {**planned.options, "name": YARDSTICK_NAME, "verify": "full"}
        formats = self._formats.formats_for(options)
        params = {name: self._formats.get(name).params(options, base) for name in format_closure((fmt,), formats)}
        tools: dict[str, str] = {}
        for node in planned.plan.nodes:  # the same formats run in this publish: their tools' versions are known
            tools |= node.spec.tools
        plan = build_plan(
            name=YARDSTICK_NAME,
            checkpoint=base.path,
            base=base.path,
            source_key=content_key({"base-yardstick": planned.inputs["base"]}),
            requested=(fmt,),
            formats=formats,
            params=params,
            tool_versions=tools,
            destinations=(),
        )
        return plan, checkpoint, base

    def measure(self, planned: PlannedPublish, fmt: str) -> dict[str, Any]:
        """`{"model", "metrics", "key"}`: what `fmt` built from the base loses against the base's logits (built once per
        content key, then read from the workspace); or `{"unavailable": reason}`."""
        reason = unavailable_reason(planned)
        if reason is not None:
            return {"unavailable": reason}
        try:
            plan, checkpoint, base = self._plan(planned, fmt)
            node = plan.node(fmt)
            with self._workspace.lock(f"base-{node.spec.key[:16]}"):
                for step in plan.nodes:
                    build_node(
                        workspace=self._workspace,
                        formats=self._formats,
                        progress=self._progress,
                        services=self._services,
                        checkpoint=checkpoint,
                        base=base,
                        plan=plan,
                        node=step,
                        label="the base's ",
                    )
        except (UserInputError, PublishError) as exc:
            return {"unavailable": f"{fmt} could not be built from the base model: {exc.message}"}
        measured = (verification_of(self._workspace.path(node.spec.key)) or {}).get("metrics", {})
        metrics = {m: measured[m] for m in RELAXABLE if isinstance(measured.get(m), int | float)}
        if not metrics:
            return {"unavailable": f"{fmt} built from the base model measured nothing to compare"}
        return {"format": fmt, "model": planned.checkpoint.base.public_name, "metrics": metrics, "key": node.spec.key}
