"""What planning a publish gives: the keyed DAG, each target's status, and the resources it needs."""

from __future__ import annotations

import attrs

from hubship.application.yardstick_plan import YardstickCost, YardstickSource
from hubship.domain.backend import BackendChoice
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.names import FROM_FOLDER
from hubship.domain.plan import PublishPlan


@attrs.frozen(kw_only=True)
class Target:
    destination: str
    format: str
    location: str
    up_to_date: bool
    fallback: str | None = None  # where it goes if the service does not answer (Ollama without a server: a folder)


@attrs.frozen(kw_only=True)
class PlannedPublish:
    plan: PublishPlan
    checkpoint: Checkpoint
    base: BaseInfo
    inputs: dict[str, dict[str, str]]
    targets: tuple[Target, ...]
    disk_needed_bytes: int
    disk_free_bytes: int
    memory_needed_bytes: int
    memory_free_bytes: int
    options: dict[str, object]
    name_origin: str = FROM_FOLDER  # `--name`, `hf:OWNER/NAME` or the checkpoint folder
    merge: str | None = None  # which weights merged-16bit merges onto, and why (None when nothing says more)
    backend: BackendChoice | None = None  # who merges, and why (None when nothing is merged)
    yardstick: YardstickSource = attrs.field(factory=lambda: YardstickSource(unavailable="not planned"))  # what a breach is held against
    yardstick_cost: YardstickCost = attrs.field(factory=YardstickCost)  # what that could build, beyond the plan's own nodes
