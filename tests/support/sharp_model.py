"""The tiny model with clear next-token winners, as a trained model has, for tests that measure quantization loss."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

SHARPEN = 8.0


def sharpened_copy(tiny_model: tuple[Path, Path], root: Path) -> tuple[Path, Path]:
    """(base, checkpoint) copies of `tiny_model` under `root` whose lm_head is 8 x its embeddings, so next-token
    distributions have clear winners as a trained model's do (the random init gives near-uniform ones, where any
    rounding flips near-ties and top-1 agreement measures noise)."""
    src_base, src_checkpoint = tiny_model
    base, checkpoint = root / "base", root / "my-finetune"
    shutil.copytree(src_base, base)
    shutil.copytree(src_checkpoint, checkpoint)
    weights = load_file(base / "model.safetensors")
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"] * SHARPEN
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    (checkpoint / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(base)}))
    return base, checkpoint
