"""The base yardstick: the same format built from the base model alone, measured against the base's own logits.

When an artifact breaks a default quality bound (domain/yardstick.py), the gate asks how much the same format
loses on the base. The base is published as a full fine-tune would be (its own weights are the model; its
reference is its own logits): the same plan nodes with the same output-changing params (the bnb settings, the
GGUF quantization and imatrix choice), under the name YARDSTICK_NAME (application/yardstick_plan.py), so every key
depends only on the base's file hashes, the format, those params and the tool versions. Each node lands in the
workspace under that key: a later publish of any fine-tune of the same base finds the figures there and builds
nothing.

The plan decides which base, or why there is none (`PlannedPublish.yardstick`): an adapter's unquantized base, a full
fine-tune's upstream base on disk; none for a QLoRA adapter (its base is itself quantized: nothing unquantized to
measure), a full fine-tune whose upstream is not on disk, or a base the format cannot be built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_registry import FormatRegistry
from hubship.application.node_build import build_node, verification_of
from hubship.application.planned_publish import PlannedPublish
from hubship.application.yardstick_plan import yardstick_plan
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.yardstick import RELAXABLE
from hubship.ports.checkpoint_reader import CheckpointReader
from hubship.ports.progress import Progress
from hubship.ports.workspace import Workspace


class BaseYardstick:
    def __init__(
        self, reader: CheckpointReader, workspace: Workspace, formats: FormatRegistry, progress: Progress, services: Mapping[str, Any]
    ) -> None:
        self._reader = reader
        self._workspace = workspace
        self._formats = formats
        self._progress = progress
        self._services = services

    def measure(self, planned: PlannedPublish, fmt: str) -> dict[str, Any]:
        """`{"model", "metrics", "key"}`: what `fmt` built from the base loses against the base's logits (built once per
        content key, then read from the workspace); or `{"unavailable": reason}`."""
        source = planned.yardstick
        if source.base is None:
            return {"unavailable": source.unavailable or "no base model to measure"}
        try:
            plan = yardstick_plan(source, (fmt,), self._formats, planned.options)
            checkpoint = self._reader.read(Path(source.base.path))  # the base as a full fine-tune: its weights are the model
            node = plan.node(fmt)
            with self._workspace.lock(f"base-{node.spec.key[:16]}"):
                for step in plan.nodes:
                    build_node(
                        workspace=self._workspace,
                        formats=self._formats,
                        progress=self._progress,
                        services=self._services,
                        checkpoint=checkpoint,
                        base=source.base,
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
        return {"format": fmt, "model": source.name, "metrics": metrics, "key": node.spec.key}
