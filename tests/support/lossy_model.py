"""A tiny model that nf4 really hurts, as 4-bit hurts a small real model: outlier weights and a sharp output head.

Real LLMs have outlier features; in a 64-weight nf4 block one outlier stretches the scale and the other 63 weights
lose precision. `lossy_copy` gives the tiny test base one outlier (x8) in every block of 64 weights of each
projection, and an lm_head of 8 x the embeddings (clear next-token winners, as a trained model has). Its
checkpoint is the tiny LoRA with a small delta (lora_B x 0.1), as a short fine-tune leaves. Measured
(docs/formats-quality.md): nf4 loses mean KL ~0.17 on the fine-tune and ~0.15 on the base, past the 0.1 default.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

OUTLIER = 8.0
SHARPEN = 8.0
DELTA = 0.1


def scale_delta(checkpoint: Path, factor: float) -> None:
    """Multiply the checkpoint's LoRA delta (every lora_B) by `factor`, in place."""
    weights = load_file(checkpoint / "adapter_model.safetensors")
    scaled = {name: (t * factor if "lora_B" in name else t) for name, t in weights.items()}
    save_file(scaled, checkpoint / "adapter_model.safetensors", metadata={"format": "pt"})


def lossy_copy(tiny_model: tuple[Path, Path], root: Path, delta: float = DELTA) -> tuple[Path, Path]:
    """(base, checkpoint) under `root`: the tiny model with outliers and a sharp head, its LoRA delta scaled by `delta`."""
    base, checkpoint = root / "base", root / "my-finetune"
    shutil.copytree(tiny_model[0], base)
    shutil.copytree(tiny_model[1], checkpoint)
    weights = load_file(base / "model.safetensors")
    generator = torch.Generator().manual_seed(0)
    for name, tensor in weights.items():
        if name.endswith("proj.weight"):
            blocks = tensor.reshape(-1, 64).clone()
            picked = torch.randint(0, 64, (blocks.shape[0],), generator=generator)
            blocks[torch.arange(blocks.shape[0]), picked] *= OUTLIER
            weights[name] = blocks.reshape(tensor.shape)
    weights["lm_head.weight"] = weights["model.embed_tokens.weight"] * SHARPEN
    save_file(weights, base / "model.safetensors", metadata={"format": "pt"})
    scale_delta(checkpoint, delta)
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    (checkpoint / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": str(base)}))
    return base, checkpoint
