from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.ports.progress import Progress


class MergeCheck(Protocol):
    """Checks a merged model tensor by tensor against what peft's own per-layer merge gives (docs/adr/023).

    Returns `merge_error` (the largest distance of a written element from peft's fp32 merge of its layer, in units
    in the last place of the written dtype: a correct merge rounds once, so at most 0.5), `tensors` (how many were
    checked) and `uncovered` (layers it could not name in the files: then nothing was checked, and the caller falls
    back to the full probe). A structural mistake (a base tensor missing, an unknown one, a wrong dtype in the
    tensors or config.json) is a PublishError.
    """

    def check(self, checkpoint: Checkpoint, base: BaseInfo, model_dir: Path, dtype: str, progress: Progress) -> dict[str, Any]: ...
