from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.ports.progress import Progress


class Merger(Protocol):
    """Writes base + adapter, merged, as safetensors (plus config) into `out_dir`.

    `dtype` is bf16|fp16|fp32 or None for the base's dtype. The merged model must give the
    logits that base + adapter, unmerged, give.
    """

    def merge(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        out_dir: Path,
        *,
        dtype: str | None,
        max_shard_bytes: int,
        progress: Progress,
    ) -> None: ...
