from __future__ import annotations

import json
from pathlib import Path

from hubship.domain.checkpoint import BaseInfo, Checkpoint


class FakeMerger:
    """Writes a small stand-in merged model and counts calls, so tests can see a merge ran once."""

    def __init__(self) -> None:
        self.calls = 0

    def merge(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path, *, dtype: str | None, max_shard_bytes: int, progress) -> None:
        self.calls += 1
        (out_dir / "config.json").write_text(json.dumps({"merged_from": checkpoint.root, "dtype": dtype}))
        (out_dir / "model.safetensors").write_bytes(b"fake weights " + str(self.calls).encode())
