"""The quality gate of a publish: each requested artifact's measured figures against the thresholds in force.

A build leaves what it measured in `.verification.json` (metrics, default thresholds, and what its card must
say: warnings, notes); the user's `--threshold`s override the defaults. Any breach stops the publish before
anything is sent, unless `--accept-quality-loss`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.plan_publish import PlannedPublish
from hubship.domain.errors import QualityGateFailed
from hubship.domain.quality import VERIFICATION_FILE, breaches, resolve_thresholds
from hubship.domain.quality_gate import gate_message


def verification_record(artifact_dir: Path, fmt: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """What the build of `fmt` measured, with the thresholds in force, the breaches and whether it passed; {} if nothing."""
    path = artifact_dir / VERIFICATION_FILE
    if not path.is_file():
        return {}
    measured = json.loads(path.read_text())
    thresholds = resolve_thresholds(measured.get("thresholds", {}), (options.get("thresholds") or {}).get(fmt, {}))
    found = breaches(measured.get("metrics", {}), thresholds)
    card = {k: measured[k] for k in ("warnings", "notes") if measured.get(k)}  # what the build says the card must say
    return {"metrics": measured.get("metrics", {}), "thresholds": thresholds, "breaches": found, "passed": not found, **card}


def check_gate(planned: PlannedPublish, records: Mapping[str, Mapping[str, Any]]) -> None:
    """QualityGateFailed naming every breach and the ways out, unless none or `--accept-quality-loss`."""
    failed = {fmt: record for fmt, record in records.items() if record and not record["passed"]}
    if failed and not planned.options.get("accept_quality_loss"):
        params = {fmt: planned.plan.node(fmt).spec.params for fmt in failed}
        raise QualityGateFailed(gate_message(failed, params))
