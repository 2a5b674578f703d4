"""`hubship inspect`: what a checkpoint holds and which base it needs, without loading weights."""

from __future__ import annotations

from hubship.application.inspect_checkpoint import InspectRequest
from hubship.entrypoints import render
from hubship.entrypoints.cli.options import Base, CheckpointArg, Json, Quiet, container_for


def inspect(checkpoint: CheckpointArg, base: Base = None, json_out: Json = False, quiet: Quiet = False) -> None:
    """Say what a checkpoint holds and which base it needs (no weights loaded)."""
    inspection = container_for(None, True).inspect_checkpoint().execute(InspectRequest(checkpoint=str(checkpoint), base=base))
    render.emit_json(render.inspection_data(inspection)) if json_out else render.show_inspection(inspection)
