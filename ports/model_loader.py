from __future__ import annotations

from typing import Protocol

from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint


class ModelLoader(Protocol):
    """Finds a base model locally (never downloads in tests) and checks an adapter fits it, without loading weights."""

    def base_info(self, ref: BaseRef) -> BaseInfo: ...

    def check_compatible(self, checkpoint: Checkpoint, base: BaseInfo) -> None: ...
