"""The Merger port over both backends: each merge goes to the backend chosen for what it merges.

The plan keys and describes a publish's merge with `Backends.choose` (strict: an explicit `--backend unsloth` on
what Unsloth does not cover stops there); the build asks the same rule again with the checkpoint and the weights
it merges onto, so the merge runs where the plan said. The base yardstick's merge (the base read as a full
fine-tune) always lands on hf: it never depends on the backend's coverage. Each backend's merger is made on
first use only (the Unsloth one needs a GPU; the hf one imports torch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hubship.domain.backend import BACKEND_TOOL, BackendChoice, Backends
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format
from hubship.ports.merger import Merger
from hubship.ports.progress import Progress


class BackendMerger:
    def __init__(self, backends: Backends, *, hf: Callable[[], Merger], unsloth: Callable[[], Merger]) -> None:
        self._backends = backends
        self._makers = {"hf": hf, "unsloth": unsloth}

    def merge(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        out_dir: Path,
        *,
        dtype: str | None,
        max_shard_bytes: int,
        progress: Progress,
    ) -> None:
        choice = self._backends.choose(
            full=checkpoint.is_full, quantized_base=base.quantization is not None, dtype=dtype or base.dtype, strict=False
        )
        merger = self._makers[choice.name]()
        merger.merge(checkpoint, base, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes, progress=progress)


def plan_backend(
    backends: Backends, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Mapping[str, Any]], formats: Mapping[str, Format]
) -> BackendChoice | None:
    """Who merges this checkpoint in a plan, and why; None when no planned format merges (none lists the backend among
    its tools). Asked as `BackendMerger` asks: with the weights merged onto (`--merge-onto`'s, else the base's) and the
    merge's dtype. An explicit `--backend unsloth` on what Unsloth does not merge the way hubship verifies stops here."""
    merging = [name for name in params if BACKEND_TOOL in formats[name].tools]
    if not merging:
        return None
    onto = base.merge_onto.info if base.merge_onto else base
    dtype = params[merging[0]].get("dtype") or onto.dtype
    return backends.choose(full=checkpoint.is_full, quantized_base=onto.quantization is not None, dtype=dtype)
