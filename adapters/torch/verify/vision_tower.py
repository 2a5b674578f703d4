"""The vision tower of a vision-language model, checked tensor by tensor: the probe's logits run the text path only,
so a merge that damaged the image encoder or its projector (a wrong dtype cast, a LoRA applied where none was, one
left out) would pass them.

When the reference is made, the base's files are sorted into the tensors of the vision tower that the adapter does
not reach (they must come out as the base's, cast to the built dtype, to the bit) and those it does (they must
differ from the base's: the adapter's delta was merged). The lists and the base's folder go into the reference
file's metadata; the built model is checked against them. Which submodules are the vision side comes from the
model itself: every child of the inner model beside its `language_model` (transformers 5 names Qwen2.5-VL's
`visual`, Gemma 3's `vision_tower` and `multi_modal_projector` so), never from a table of names.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from hubship.adapters.torch.merge.safetensors_reader import Stored, read_header
from hubship.adapters.torch.model_files import file_keys, weight_files
from hubship.adapters.torch.verify.tensor_compare import copy_error

BASE, UNTOUCHED, REACHED = "vision_base", "vision_untouched", "vision_reached"
PEFT_PREFIX = "base_model.model."


def vision_prefixes(model: nn.Module) -> list[str]:
    """In-memory names of the vision side of a vision-language model (`model.visual`...); [] for a text model."""
    inner = getattr(model, "model", None)
    if inner is None or getattr(model.config, "vision_config", None) is None:
        return []
    language = getattr(inner, "language_model", None)
    return [f"model.{name}" for name, child in inner.named_children() if child is not language]


def _on_file(prefixes: list[str], name: str) -> bool:
    """Whether file key `name` lies under an in-memory prefix (files name `model.visual.*` as `visual.*`)."""
    return any(name.startswith((f"{p}.", f"{p.removeprefix('model.')}.")) for p in prefixes)


def record(model: nn.Module, lora_model: nn.Module | None, base_dir: Path) -> dict[str, str]:
    """The reference file's metadata for the vision tower of `model` (the base's skeleton), with the modules that
    `lora_model` (peft's wrap of it, None for a checkpoint without an adapter) gives a LoRA."""
    prefixes = vision_prefixes(model)
    if not prefixes:
        return {}
    keys = [k for k in file_keys([base_dir / f for f in weight_files(base_dir)]) if _on_file(prefixes, k)]
    wrapped = set()
    for name, module in lora_model.named_modules() if lora_model is not None else ():
        if len(getattr(module, "lora_A", ())) and _on_file(prefixes, name.removeprefix(PEFT_PREFIX)):
            wrapped.add(name.removeprefix(PEFT_PREFIX))
    reached = [k for k in keys if any(k.removesuffix(".weight") in (w, w.removeprefix("model.")) for w in wrapped)]
    untouched = [k for k in keys if k not in reached]
    return {BASE: str(base_dir), UNTOUCHED: json.dumps(untouched), REACHED: json.dumps(reached)}


def _stored(model_dir: Path) -> dict[str, Stored]:
    """Every tensor of the model in `model_dir`, by file key: where it lies (each shard's header read once)."""
    found: dict[str, Stored] = {}
    for name in weight_files(model_dir):
        found |= read_header(model_dir / name, "the vision tower's weights")
    return found


def check(model_dir: Path, metadata: dict[str, str]) -> dict[str, float]:
    """`vision_tensors` checked in the built model at `model_dir` and `vision_tensors_wrong`: untouched ones that are
    not the base's (cast to the built dtype) to the bit, reached ones equal to the base's, missing ones; {} for a
    text model. Each tensor is compared slab by slab (tensor_compare.copy_error), read once."""
    if BASE not in metadata:
        return {}
    base, built = _stored(Path(metadata[BASE])), _stored(model_dir)
    untouched, reached = json.loads(metadata[UNTOUCHED]), json.loads(metadata[REACHED])
    wrong = 0
    for key in [*untouched, *reached]:
        if key not in built or key not in base:
            wrong += 1
            continue
        error = copy_error(built[key], base[key])  # inf for another shape
        same = error == 0.0
        wrong += int(same == (key in reached) or error == float("inf"))
    return {"vision_tensors": float(len(untouched) + len(reached)), "vision_tensors_wrong": float(wrong)}
