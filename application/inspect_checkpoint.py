"""Use case: say what a checkpoint folder holds and which base it needs, without loading weights."""

from __future__ import annotations

from pathlib import Path

import attrs

from hubship.application.base_resolution import with_lineage
from hubship.application.publish_request import derived_name
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import HubshipError
from hubship.ports.checkpoint_reader import CheckpointReader
from hubship.ports.model_loader import ModelLoader


@attrs.frozen(kw_only=True)
class InspectRequest:
    checkpoint: str
    base: str | None = None
    pick: str | None = None  # --checkpoint: which checkpoint of a run folder
    base_model_id: str | None = None


@attrs.frozen(kw_only=True)
class Inspection:
    """`default_name`: the name a publish uses when given no --name and no hf: destination."""

    checkpoint: Checkpoint
    base: BaseInfo | None
    base_problem: str | None
    default_name: str = ""


class InspectCheckpoint:
    def __init__(self, reader: CheckpointReader, loader: ModelLoader) -> None:
        self._reader = reader
        self._loader = loader

    def execute(self, request: InspectRequest) -> Inspection:
        checkpoint = self._reader.read(Path(request.checkpoint), request.base, request.pick)
        name = derived_name(request.checkpoint, checkpoint.training_method)
        try:
            base = self._loader.base_info(checkpoint.base)
            self._loader.check_compatible(checkpoint, base)
            base = with_lineage(checkpoint, base, flag=request.base_model_id, base_given=request.base is not None)
        except HubshipError as exc:  # the checkpoint is still worth describing
            return Inspection(checkpoint=checkpoint, base=None, base_problem=exc.message, default_name=name)
        return Inspection(checkpoint=checkpoint, base=base, base_problem=None, default_name=name)
