"""Where a model folder's weights lie: its safetensors files, and which file holds each tensor."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError, safe_open

from hubship.adapters.torch.bnb_weights import QuantizedWeight, logical_tensors
from hubship.adapters.torch.merge.safetensors_reader import Stored, read_header
from hubship.domain.errors import UserInputError

ADAPTER_PREFIX = "base_model.model."  # what peft puts before a module's name in an adapter file's keys


def weight_files(model_dir: Path) -> tuple[str, ...]:
    """The names of the folder's weight files: those its model.safetensors.index.json maps to, else every
    *.safetensors file in it; sorted, each once."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        return tuple(sorted(set(json.loads(index.read_text())["weight_map"].values())))
    return tuple(sorted(p.name for p in model_dir.glob("*.safetensors")))


def file_keys(files: list[Path]) -> dict[str, Path]:
    """Each tensor name -> the file holding it (the last one named, should two hold it); an unreadable file is a
    UserInputError."""
    where: dict[str, Path] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as f:
                where.update(dict.fromkeys(f.keys(), path))
        except (SafetensorError, OSError) as exc:
            raise UserInputError(f"{path} is not a readable safetensors file ({exc}); re-download or re-save the model") from None
    return where


def model_tensors(path: Path, files: tuple[str, ...], bits: int | None = None) -> dict[str, Stored | QuantizedWeight]:
    """Every tensor of the folder's weight files, quantized weights as their logical tensors; a missing, truncated
    or corrupt file (or quant state) is a UserInputError."""
    found: dict[str, Stored] = {}
    for name in files:
        if not path.joinpath(name).is_file():
            raise UserInputError(f"{path / name} is missing (the model's index names it); re-download or re-save that model")
        found.update(read_header(path / name, "that model"))
    return logical_tensors(found, bits)
