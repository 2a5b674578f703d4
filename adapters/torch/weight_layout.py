"""How a model's parameters in memory are stored in its files, by transformers' own conversion mapping.

transformers 5 renames modules in memory and converts weights as it loads them, and reverts both as it saves:
a MoE's experts are one 3D parameter in memory (`mlp.experts.gate_up_proj`) and one tensor per expert in the
files (`mlp.experts.N.gate_proj.weight`, Mixtral's `block_sparse_moe.experts.N.w1.weight`), Mixtral's router is
`mlp.gate` in memory and `block_sparse_moe.gate` on disk, a vision-language model's text layers are
`model.language_model.*` in memory and `model.*` on disk. hubship never spells those names out: the key mapping
below is the one `from_pretrained` computes (`get_model_conversion_mapping`, `rename_source_key`), a value is built
by the converter transformers would run, and `to_files` is `save_pretrained`'s own reversal
(`revert_weight_conversion`).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable

import attrs
import torch
from torch import nn


@attrs.frozen
class Source:
    """Where one in-memory parameter comes from: its file keys by the converter's source pattern (in load order),
    and the transformers WeightConverter that builds it (None: a plain renaming of its one key)."""

    target: str
    keys: dict[str, tuple[str, ...]]
    converter: object | None = None

    @property
    def file_keys(self) -> tuple[str, ...]:
        return tuple(key for keys in self.keys.values() for key in keys)


class WeightLayout:
    """The in-memory parameters of `model` (a transformers model, its weights on meta or not) that its files'
    `file_keys` store under other names or in other shapes."""

    def __init__(self, model: nn.Module, file_keys: Iterable[str]) -> None:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightConverter, dot_natural_key, rename_source_key

        self._model = model
        conversions = get_model_conversion_mapping(model)
        renamings = [c for c in conversions if not isinstance(c, WeightConverter)]
        converters = [c for c in conversions if isinstance(c, WeightConverter)]
        by_pattern = {pattern: c for c in converters for pattern in c.source_patterns}
        meta = model.state_dict()
        prefix = getattr(model, "base_model_prefix", None)
        found: dict[str, tuple[object | None, dict[str, list[str]]]] = {}
        for key in sorted(file_keys, key=dot_natural_key):  # as from_pretrained collects them
            target, pattern = rename_source_key(key, renamings, converters, prefix, meta)
            if target not in meta and key in meta:
                target, pattern = key, None
            if target not in meta or (target == key and pattern is None):
                continue  # stored as it is named (or not a parameter of this model)
            keys = found.setdefault(target, (by_pattern[pattern] if pattern else None, {}))[1]
            keys.setdefault(pattern or "", []).append(key)
        self._sources = {
            target: Source(target, {p: tuple(k) for p, k in keys.items()}, converter) for target, (converter, keys) in found.items()
        }
        self._file_names = {key: s.target for s in self._sources.values() for key in s.file_keys}

    def source(self, name: str) -> Source | None:
        """Where the in-memory parameter `name` is stored, when the files name or shape it otherwise."""
        return self._sources.get(name)

    def in_memory(self, file_key: str) -> str | None:
        """The in-memory parameter a file key goes into, when it is stored otherwise."""
        return self._file_names.get(file_key)

    def value(self, source: Source, read: Callable[[str], torch.Tensor]) -> torch.Tensor:
        """The parameter's value built from its file tensors (`read(key)`) as from_pretrained builds it."""
        if source.converter is None:
            return read(source.file_keys[0])
        converter = copy.deepcopy(source.converter)
        for pattern, keys in source.keys.items():
            for key in keys:
                converter.add_tensor(source.target, key, pattern, functools.partial(read, key))  # type: ignore[attr-defined]
        built = converter.convert(source.target, model=self._model, config=getattr(self._model, "config", None))  # type: ignore[attr-defined]
        value = built[source.target]
        return value[0] if isinstance(value, list) else value

    def to_files(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """In-memory tensors (name -> value) as save_pretrained writes them: file key -> tensor."""
        from transformers.core_model_loading import revert_weight_conversion

        return revert_weight_conversion(self._model, values)
