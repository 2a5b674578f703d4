"""`hubship inspect`: what a checkpoint holds and which base it needs, without loading weights."""

from __future__ import annotations

from hubship.application.inspect_checkpoint import InspectRequest
from hubship.entrypoints import render, render_inspection
from hubship.entrypoints.cli.options import Base, BaseModelId, CheckpointArg, Json, Pick, Quiet, container_for


def inspect(
    checkpoint: CheckpointArg,
    base: Base = None,
    base_model_id: BaseModelId = None,
    pick: Pick = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Say what a checkpoint holds and which base it needs (no weights loaded)."""
    asked = InspectRequest(checkpoint=str(checkpoint), base=base, pick=pick, base_model_id=base_model_id)
    inspection = container_for(None, True).inspect_checkpoint().execute(asked)
    render.emit_json(render_inspection.inspection_data(inspection)) if json_out else render_inspection.show_inspection(inspection)
