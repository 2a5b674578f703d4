"""Building one node of a plan into the workspace, or finding it there: what a publish and the base yardstick share.

A node whose content key the workspace already holds is reused; otherwise its format's builder runs into a
staging folder that becomes the artifact only when the build succeeds (a crash leaves nothing half-built).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.format_registry import FormatRegistry
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.plan import PlanNode, PublishPlan
from hubship.domain.quality import VERIFICATION_FILE
from hubship.ports.progress import Progress
from hubship.ports.workspace import Workspace


def verification_of(artifact_dir: Path) -> dict[str, Any] | None:
    """What the build of the artifact in `artifact_dir` recorded of its checks (VERIFICATION_FILE); None if nothing."""
    path = artifact_dir / VERIFICATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def save_verification(artifact_dir: Path, record: Mapping[str, Any]) -> None:
    """Record what the build of the artifact in `artifact_dir` checked (read back by verification_of, the quality gate
    and the card: its metrics in the order given)."""
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    (artifact_dir / VERIFICATION_FILE).write_text(text, encoding="utf-8")


def build_node(
    *,
    workspace: Workspace,
    formats: FormatRegistry,
    progress: Progress,
    services: Mapping[str, Any],
    checkpoint: Checkpoint,
    base: BaseInfo,
    plan: PublishPlan,
    node: PlanNode,
    label: str = "",
) -> bool:
    """Build `node` of `plan` unless the workspace has it; True when it was reused. Its inputs must be built."""
    key = node.spec.key
    if workspace.has(key):
        return True
    inputs = {dep: workspace.path(plan.node(dep).spec.key) for dep in node.builds_from}
    with workspace.staging(key) as out_dir:
        progress.message(f"building {label}{node.format} ({key[:12]})")
        formats.get(node.format).build(
            BuildContext(
                checkpoint=checkpoint,
                base=base,
                params=node.spec.params,
                inputs=inputs,
                out_dir=out_dir,
                progress=progress,
                services=services,
            )
        )
    return False
