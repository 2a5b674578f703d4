"""The quality gate of a publish: each artifact that reaches a destination, its measured figures against the bounds in force.

A build leaves what it measured in `.verification.json` (metrics, default thresholds, and what its card must
say: warnings, notes); the user's `--threshold`s override the defaults. A breached *default* bound is then held
against the base yardstick (application/base_yardstick.py, domain/yardstick.py): the same format on the base
alone, loosened at most to the format's ceiling (`base.ceiling` records where the ceiling held). Any breach left
stops the publish before anything is sent, unless `--accept-quality-loss`.

Gated: every requested artifact, and what an internal one carries to its destination (the GGUF inside an
Ollama model), whose figures also go into that destination's manifest and card.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hubship.application.base_yardstick import BaseYardstick
from hubship.application.node_build import verification_of
from hubship.application.planned_publish import PlannedPublish
from hubship.application.yardstick_plan import gated_formats
from hubship.domain.errors import QualityGateFailed
from hubship.domain.formats import Format
from hubship.domain.quality import breaches, resolve_thresholds
from hubship.domain.quality_gate import gate_message
from hubship.domain.yardstick import LOSSY_CEILING, breached_defaults, ceiling_factor, measured_on_base, relaxed
from hubship.ports.workspace import Workspace

Yardstick = Callable[[], Mapping[str, Any]]  # what the same format loses on the base: {"metrics", "model"} or {"unavailable"}


def verification_record(
    artifact_dir: Path, fmt: str, options: Mapping[str, Any], yardstick: Yardstick | None = None, ceiling: float = LOSSY_CEILING
) -> dict[str, Any]:
    """What the build of `fmt` measured, with the thresholds in force, the breaches and whether it passed; {} if nothing.

    When a default bound is breached and a `yardstick` is given, its figures go under `base` (with the default
    bounds it loosened, `base.defaults`) and the bounds in force are the loosened ones, never past `ceiling` x the
    default (`base.ceiling`: that factor and the metrics it held)."""
    measured = verification_of(artifact_dir)
    if measured is None:
        return {}
    metrics = measured.get("metrics", {})
    user_set = (options.get("thresholds") or {}).get(fmt, {})
    thresholds = resolve_thresholds(measured.get("thresholds", {}), user_set)
    extra: dict[str, Any] = {k: measured[k] for k in ("warnings", "notes", "device") if measured.get(k)}  # card notes; where measured
    loosened = breached_defaults(metrics, thresholds, user_set) if yardstick is not None else []
    if loosened and yardstick is not None:
        base = dict(yardstick())
        if "metrics" in base:
            base["defaults"] = {m: thresholds[m] for m in loosened}
            thresholds, capped = relaxed(metrics, thresholds, user_set, base["metrics"], ceiling)
            if capped:
                base["ceiling"] = {"factor": ceiling, "metrics": capped}
        extra["base"] = base
    found = breaches(metrics, thresholds)
    return {"metrics": metrics, "thresholds": thresholds, "breaches": found, "passed": not found, **extra}


def with_carried(record: Mapping[str, Any], carried: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """An artifact's record with the figures of the artifacts it carries (its own win where names meet)."""
    if not carried or not record:
        return {**record}
    merged: dict[str, Any] = {**record, "metrics": {}, "thresholds": {}}
    for part in (*carried.values(), record):
        merged["metrics"] |= part.get("metrics", {})
        merged["thresholds"] |= part.get("thresholds", {})
        if part is not record and "base" in part:
            merged["base"] = part["base"]
    merged["breaches"] = [b for part in (*carried.values(), record) for b in part.get("breaches", ())]
    merged["passed"] = not merged["breaches"]
    return merged


def gate(planned: PlannedPublish, formats: Mapping[str, Format], workspace: Workspace, yardstick: BaseYardstick | None) -> dict[str, dict]:
    """Each requested artifact's record (with what it carries), once every gated artifact passed (QualityGateFailed if not)."""
    plan = planned.plan

    def record(fmt: str) -> dict[str, Any]:
        held = yardstick is not None and measured_on_base(formats[fmt].relation)
        measure = (lambda: yardstick.measure(planned, fmt)) if held else None
        ceiling = ceiling_factor(formats[fmt].relation)
        return verification_record(workspace.path(plan.node(fmt).spec.key), fmt, planned.options, measure, ceiling)

    records = {fmt: record(fmt) for fmt in gated_formats(plan, formats)}
    check_gate(planned, records)
    carries = {n.format: [d for d in n.builds_from if d in records] if formats[n.format].internal else [] for n in plan.requested}
    return {fmt: with_carried(records[fmt], {d: records[d] for d in deps}) for fmt, deps in carries.items()}


def check_gate(planned: PlannedPublish, records: Mapping[str, Mapping[str, Any]]) -> None:
    """QualityGateFailed naming every breach and the ways out, unless none or `--accept-quality-loss`."""
    failed = {fmt: record for fmt, record in records.items() if record and not record["passed"]}
    if failed and not planned.options.get("accept_quality_loss"):
        params = {fmt: planned.plan.node(fmt).spec.params for fmt in failed}
        raise QualityGateFailed(gate_message(failed, params))
