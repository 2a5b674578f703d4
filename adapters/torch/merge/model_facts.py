"""What the merge needs to know about the base's modules, read from them built on the meta device (no weights).

Building them imports transformers' modeling code (seconds: most of a `--verify off` merge's fixed cost), so the
facts are kept in a cache folder (the workspace's) under a key of the base's config.json bytes, the transformers
version and this file's format: a later publish from the same base reads them back instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import attrs

FACTS_FORMAT = 1  # bump when what is kept, or how it is computed, changes


@attrs.frozen
class ModelFacts:
    """What the merge needs to know about the base's modules: tied weights, embeddings, Conv1D layers."""

    tied: list[set[str]]
    embeddings: set[str]
    transposed: frozenset[str]
    config: dict[str, Any]


def _key(config_bytes: bytes) -> str:
    try:
        transformers = version("transformers")
    except PackageNotFoundError:  # pragma: no cover - a dependency; the skeleton below fails first without it
        transformers = "none"
    return hashlib.sha256(config_bytes + f"\0transformers {transformers}\0facts {FACTS_FORMAT}".encode()).hexdigest()


def _from_modules(base_dir: Path, config: dict[str, Any]) -> ModelFacts:
    from transformers.pytorch_utils import Conv1D  # imported only here: the modeling code is the slow part

    from hubship.adapters.torch.meta_model import embedding_modules, skeleton, tensor_names

    model = skeleton(base_dir)
    return ModelFacts(
        tied=[set(names) for names in tensor_names(model) if len(names) > 1],
        embeddings={f"{name}.weight" for name in embedding_modules(model)},
        transposed=frozenset(n for n, m in model.named_modules() if isinstance(m, Conv1D)),
        config=config,
    )


def _read(path: Path, config: dict[str, Any]) -> ModelFacts | None:
    try:
        kept = json.loads(path.read_text())
        return ModelFacts(
            tied=[set(group) for group in kept["tied"]],
            embeddings=set(kept["embeddings"]),
            transposed=frozenset(kept["transposed"]),
            config=config,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none kept, or unreadable: computed again


def _keep(path: Path, facts: ModelFacts) -> None:
    kept = {"tied": [sorted(g) for g in facts.tied], "embeddings": sorted(facts.embeddings), "transposed": sorted(facts.transposed)}
    with contextlib.suppress(OSError):  # a cache that cannot be written costs the next publish seconds, nothing more
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        staged.write_text(json.dumps(kept, indent=1))
        os.replace(staged, path)


def model_facts(base_dir: Path, cache_dir: Path | None = None) -> ModelFacts:
    """The groups of tied weight names, the embeddings' weight names, the Conv1D modules (stored (in, out)) of the
    base's modules, and config.json as the file holds it; kept in `cache_dir` when given."""
    config_bytes = (base_dir / "config.json").read_bytes()
    config = json.loads(config_bytes)
    path = cache_dir / f"{_key(config_bytes)}.json" if cache_dir is not None else None
    found = _read(path, config) if path is not None else None
    if found is None:
        found = _from_modules(base_dir, config)
        if path is not None:
            _keep(path, found)
    return found
