"""What the merge needs to know about the base's modules, read from them built on the meta device (no weights)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
from transformers.pytorch_utils import Conv1D

from hubship.adapters.torch.meta_model import embedding_modules, skeleton, tensor_names


@attrs.frozen
class ModelFacts:
    """What the merge needs to know about the base's modules: tied weights, embeddings, Conv1D layers."""

    tied: list[set[str]]
    embeddings: set[str]
    transposed: frozenset[str]
    config: dict[str, Any]


def model_facts(base_dir: Path) -> ModelFacts:
    """Read from the base's modules built on the meta device (no weights): the groups of tied weight names, the
    embeddings' weight names, the Conv1D modules (stored (in, out)), and config.json as the file holds it."""
    model = skeleton(base_dir)
    return ModelFacts(
        tied=[set(names) for names in tensor_names(model) if len(names) > 1],
        embeddings={f"{name}.weight" for name in embedding_modules(model)},
        transposed=frozenset(n for n, m in model.named_modules() if isinstance(m, Conv1D)),
        config=json.loads((base_dir / "config.json").read_text()),
    )
