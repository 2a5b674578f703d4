"""A stand-in for Unsloth's FastLanguageModel (no GPU here): it writes what Unsloth's merged save writes.

`pickle_when_true` mimics current Unsloth on a machine with 2 or fewer CPUs: `safe_serialization=True` makes
it save pickled `pytorch_model.bin` (torch.save); `None` forces safetensors. `always_pickle` writes a pickle
whatever it is asked, as an Unsloth release that ignores the setting would.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

TORCH = SimpleNamespace(bfloat16="bfloat16", float16="float16")  # all the merger takes from torch


class FakeUnslothModel:
    def __init__(self, owner: FakeFastLanguageModel) -> None:
        self._owner = owner

    def save_pretrained_merged(self, out_dir: str, tokenizer: Any, **kwargs: Any) -> None:
        self._owner.saves.append(kwargs)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
        (out / "README.md").write_text("# written by unsloth\n")
        safe = kwargs.get("safe_serialization")
        if self._owner.always_pickle or (safe is True and self._owner.pickle_when_true):
            (out / "pytorch_model.bin").write_bytes(pickle.dumps({"w": [1.0]}, protocol=2))
        else:
            header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
            (out / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + struct.pack("<f", 1.0))


class FakeFastLanguageModel:
    def __init__(self, *, pickle_when_true: bool = True, always_pickle: bool = False) -> None:
        self.pickle_when_true, self.always_pickle = pickle_when_true, always_pickle
        self.loads: list[dict[str, Any]] = []
        self.saves: list[dict[str, Any]] = []

    def from_pretrained(self, **kwargs: Any) -> tuple[FakeUnslothModel, object]:
        self.loads.append(kwargs)
        return FakeUnslothModel(self), object()

    def library(self) -> tuple[Any, Any]:
        """What `UnslothMerger(library=...)` calls: (torch, FastLanguageModel)."""
        return TORCH, self
