"""A full fine-tune: a whole model folder (config.json + safetensors weights, no adapter), as TRL's SFTTrainer
and the HF Trainer save it without peft. Its weights are the model; it is its own base.

Weights must be safetensors: pickled `pytorch_model*.bin` files are refused (hubship never unpickles), and so
is `training_args.bin`, which is never read nor published (it is a pickle and can hold a Hub token).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from hubship.adapters.torch.checkpoint_files import check_links, load_json
from hubship.adapters.torch.model_files import model_tensors, weight_files
from hubship.domain.checkpoint import FULL, BaseRef, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.run_folder import LOOKED_FOR

INDEX = "model.safetensors.index.json"


def is_full_model(folder: Path) -> bool:
    """Whether `folder` holds a whole model: a config.json beside weights (safetensors, or pickles to refuse)."""
    if not (folder / "config.json").is_file():
        return False
    return any(folder.glob("*.safetensors")) or (folder / INDEX).is_file() or any(folder.glob("pytorch_model*.bin"))


def read_full(root: Path, shown: Path, upstream: BaseRef | None, common: Callable[[Path], Any]) -> Checkpoint:
    """The full fine-tune in `root` (`shown` as the user named it; `upstream`: the model it was tuned from, when `--base`
    names it); `common` reads its tokenizer, README and trainer files. A folder without a model, pickled weights, or a
    truncated or corrupt shard is a UserInputError naming the fix."""
    if not is_full_model(root):
        raise UserInputError(f"{shown} holds no checkpoint: looked for {LOOKED_FOR}; pass the folder the trainer saved to")
    config = load_json(root / "config.json")
    if not isinstance(config, dict) or not config.get("architectures"):
        raise UserInputError(f"config.json in {shown} is not a transformers model config (no architectures); re-save the model")
    files = weight_files(root)
    if not files:
        raise UserInputError(
            f"{shown} holds its weights as pickled pytorch_model.bin files, which hubship never unpickles;"
            " re-save the model with save_pretrained(..., safe_serialization=True)"
        )
    model_tensors(root, files)  # every header read and checked against its file's size: a truncated shard stops here
    names = ["config.json", *files, *([INDEX] if (root / INDEX).is_file() else [])]
    check_links(root, names)
    found = common(root)
    return Checkpoint(
        root=str(root),
        kind=FULL,
        base=BaseRef(path=str(root)),
        upstream=upstream,
        **attrs.asdict(found, recurse=False) | {"files": (*names, *found.files)},
    )
