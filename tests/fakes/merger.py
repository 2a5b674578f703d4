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


class ScaledDeltaMerger:
    """A broken merge on purpose: the real streaming merger run on a copy of the adapter whose delta is `factor` x the
    trained one (a lost or doubled LoRA scaling). A full model (the base yardstick's) merges as it is."""

    def __init__(self, factor: float, scratch: Path) -> None:
        self.factor, self.scratch = factor, scratch

    def merge(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path, *, dtype: str | None, max_shard_bytes: int, progress) -> None:
        import shutil

        import attrs

        from hubship.adapters.torch.streaming_merger import StreamingMerger
        from tests.support.lossy_model import scale_delta

        if not checkpoint.is_full:
            copy = self.scratch / f"scaled-{len(list(self.scratch.glob('scaled-*')))}"
            shutil.copytree(checkpoint.root, copy)
            scale_delta(copy, self.factor)
            checkpoint = attrs.evolve(checkpoint, root=str(copy))
        StreamingMerger().merge(checkpoint, base, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes, progress=progress)


class DroppedExpertsMerger:
    """A broken merge on purpose, the best-known failure of peer tools on MoE models: the real streaming merger run on
    a copy of the adapter whose LoRAs on the experts are zero, so the merged model has every delta but the experts'.
    A full model (the base yardstick's) merges as it is."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def merge(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path, *, dtype: str | None, max_shard_bytes: int, progress) -> None:
        import shutil

        import attrs
        from safetensors.torch import load_file, save_file

        from hubship.adapters.torch.streaming_merger import StreamingMerger

        if checkpoint.is_full:
            StreamingMerger().merge(checkpoint, base, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes, progress=progress)
            return
        copy = self.scratch / f"no-experts-{len(list(self.scratch.glob('no-experts-*')))}"
        shutil.copytree(checkpoint.root, copy)
        weights = copy / str(checkpoint.adapter_weights)
        tensors = load_file(str(weights))
        dropped = [key for key in tensors if ".experts." in key and ".lora_B." in key]
        assert dropped, "the adapter has no LoRA on the experts to drop"
        for key in dropped:
            tensors[key].zero_()
        save_file(tensors, str(weights))
        merged = attrs.evolve(checkpoint, root=str(copy))
        StreamingMerger().merge(merged, base, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes, progress=progress)


class AlteredVisionMerger:
    """A broken merge on purpose: the real streaming merger, then one tensor of the vision tower (`visual.*`) nudged
    by one part in a thousand, as a wrong cast or a stray delta would leave it. The text path's logits do not see it."""

    def merge(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path, *, dtype: str | None, max_shard_bytes: int, progress) -> None:
        from safetensors.torch import load_file, save_file

        from hubship.adapters.torch.streaming_merger import StreamingMerger

        StreamingMerger().merge(checkpoint, base, out_dir, dtype=dtype, max_shard_bytes=max_shard_bytes, progress=progress)
        for path in sorted(out_dir.glob("*.safetensors")):
            tensors = load_file(str(path))
            key = next((k for k in sorted(tensors) if k.startswith("visual.") and k.endswith(".weight")), None)
            if key is not None:
                tensors[key] = tensors[key] * 1.001
                save_file(tensors, str(path), metadata={"format": "pt"})
                return
        raise AssertionError("no vision tower tensor in the merged model")
