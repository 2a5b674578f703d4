"""Every tensor of a merged model checked against what peft's own per-layer merge gives for its layer, in fp32.

The base's meta skeleton is wrapped by peft as it runs the adapter (peft_reference.peft_model: peft resolves the
targets, ranks, alphas and variants). For each LoRA layer, a copy is filled with the base's weight (dequantized
for a quantized base) and the adapter's tensors in fp32, peft's `merge(safe_merge=True)` runs on it, and the
written tensor must be that value rounded once to the written dtype (`ulp_error` at most half an ulp). A tensor
the adapter saves whole must be the adapter's; every other tensor the base's (a copy, compared slab by slab); a
head the merge untied, its tied partner's. hubship's merge (merge.tensor_math) never calls peft: the two are
independent computations of the same thing.

Structure is checked too: no base tensor missing, no tensor unknown to base and adapter, every floating tensor
and config.json in the requested dtype. A layer this check cannot name in the files (a LoRA on fused MoE experts,
a module the files store under another name, an adapter peft converts as it loads) is reported as `uncovered`:
the caller then falls back to the full probe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hubship.adapters.torch.bnb_weights import QuantizedWeight, read_source
from hubship.adapters.torch.merge.merged_config import CONFIG_DTYPES
from hubship.adapters.torch.merge.safetensors_reader import ST_DTYPE_ATTRS, Stored, read_tensor
from hubship.adapters.torch.meta_model import aliases, skeleton
from hubship.adapters.torch.model_files import ADAPTER_PREFIX, model_tensors, weight_files
from hubship.adapters.torch.verify.memory import release_freed_memory
from hubship.adapters.torch.verify.peft_reference import adapter_vocab, peft_model
from hubship.adapters.torch.verify.tensor_compare import copy_error, ulp_error
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError
from hubship.ports.progress import Progress

SLAB_ELEMENTS = 1024 * 1024  # rows of a Linear merged at once by the check (4 MB in fp32)
_WRAPPERS = re.compile(r"\.(base_layer|original_module|modules_to_save\.[^.]+)(?=\.|$)")


def _plain(name: str) -> str:
    """A peft parameter or module name as the files name it: no `base_model.model.`, no wrappers."""
    return _WRAPPERS.sub("", name.removeprefix(ADAPTER_PREFIX))


class _Layers:
    """peft's LoRA layers of the model, by the name of the weight file tensor they change, filled and merged one at
    a time (a plain Linear a slab of its output rows at a time); each tensor's error is handed out once (a layer's
    bias may be written before its weight)."""

    def __init__(self, checkpoint: Checkpoint, base_dir: Path, base: dict[str, Any]) -> None:
        from peft.tuners.lora import LoraLayer

        model = skeleton(base_dir)
        self.tied = aliases(model)
        vocab = adapter_vocab(checkpoint, model)
        if vocab:
            model = skeleton(base_dir, vocab)
        model, self._where = peft_model(model, checkpoint)
        self.adapter = model_tensors(Path(checkpoint.root), (str(checkpoint.adapter_weights),))
        self._base = base
        self.layers: dict[str, tuple[str, nn.Module]] = {}
        self.uncovered: list[str] = []
        lora_params = set()
        for name, module in model.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            lora_params |= {f"{name}.{sub}" for sub, _ in module.named_parameters() if not sub.startswith("base_layer.")}
            weight = getattr(module.get_base_layer(), "weight", None)
            target = f"{_plain(name)}.weight"
            if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
                self.uncovered.append(_plain(name))  # a LoRA on fused parameters (ParamWrapper): no per-layer weight
                continue
            self.layers[target] = (name, module)
            if getattr(module.get_base_layer(), "bias", None) is not None:
                self.layers[f"{_plain(name)}.bias"] = (name, module)
        if not self._where and self.adapter:  # peft converted the adapter's tensors as it loaded them
            self.uncovered.append("the adapter's tensors, as peft converts them")
        # tensors the adapter saves whole (modules_to_save, saved embedding layers): written as the adapter has them
        self.saved = {_plain(p): key for p, key in self._where.items() if p not in lora_params}
        self._errors: dict[str, float] = {}

    def _value(self, param: str, rows: slice | None = None) -> torch.Tensor:
        """A parameter of peft's layer in fp32, from the adapter's file or the base's (a tied head: its partner's);
        `rows`: only those rows (a slab of a Linear's outputs)."""
        key = self._where.get(param)
        plain = _plain(param)
        names = [plain, *self.tied.get(plain, ())]
        stored = self.adapter[key] if key is not None else next((self._base[n] for n in names if n in self._base), None)
        if stored is None:
            raise PublishError(f"the base model's files hold no tensor {plain!r} for peft's layer; cannot check the merge")
        if rows is not None and isinstance(stored, Stored) and stored.shape:
            return read_tensor(stored, rows=(rows.start, min(rows.stop, stored.shape[0]))).to(torch.float32)
        value = read_source(stored)
        return (value if rows is None or value.ndim == 0 else value[rows]).to(torch.float32)

    def error(self, tensor: str, written: dict[str, Stored]) -> float:
        """`tensor`'s ulp_error against peft's merge of its layer; the layer's other tensor (weight or bias) is measured
        in the same merge and handed out on its own call."""
        if tensor not in self._errors:
            name, module = self.layers[tensor]
            base_layer = module.get_base_layer()
            parts = [p for p in ("weight", "bias") if getattr(base_layer, p, None) is not None]
            values = {p: read_tensor(written[f"{_plain(name)}.{p}"]) for p in parts}
            rows = base_layer.weight.shape[0]
            # a plain Linear's outputs merge row by row (DoRA's norm too): slabs keep the copies small
            quantized = isinstance(self._base.get(f"{_plain(name)}.weight"), QuantizedWeight)  # dequantized whole, once
            sliced = isinstance(base_layer, nn.Linear) and not getattr(module, "fan_in_fan_out", False) and not quantized
            step = max(1, SLAB_ELEMENTS // max(1, base_layer.weight[0].numel())) if sliced else rows
            worst = dict.fromkeys(parts, 0.0)
            for start in range(0, rows, step):
                merged = self._merge(name, module, slice(start, start + step) if sliced else None)
                for part, (after, before) in merged.items():
                    got = values[part][start : start + step] if sliced else values[part]
                    worst[part] = max(worst[part], ulp_error(got, after, before))
            self._errors |= {f"{_plain(name)}.{p}": e for p, e in worst.items()}
        return self._errors.pop(tensor)

    def _merge(self, name: str, module: nn.Module, rows: slice | None) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """peft's merge(safe_merge=True) of the layer filled in fp32 (only `rows` of its outputs: the rows of its
        weight, bias, lora_B and DoRA magnitude), each part's merged value and its value before."""
        metas = []
        for sub, param in module.named_parameters(remove_duplicate=False):
            owner = module.get_submodule(sub.rpartition(".")[0]) if "." in sub else module
            attr = sub.rpartition(".")[2]
            metas.append((owner, attr, param))
            per_output = rows is not None and not sub.startswith(("lora_A.", "lora_embedding_A."))
            owner._parameters[attr] = nn.Parameter(self._value(f"{name}.{sub}", rows if per_output else None), requires_grad=False)
        base_layer = module.get_base_layer()
        before = {p: getattr(base_layer, p).data for p in ("weight", "bias") if getattr(base_layer, p, None) is not None}
        try:
            with torch.no_grad():
                module.merge(safe_merge=True)
        except (ValueError, RuntimeError) as exc:
            raise PublishError(f"peft could not merge {_plain(name)} ({exc}); cannot check the merge") from None
        finally:
            module.merged_adapters.clear()
        merged = {p: (getattr(base_layer, p).data, value) for p, value in before.items()}
        for owner, attr, meta in metas:
            owner._parameters[attr] = meta
        return merged


def _config_dtype(model_dir: Path) -> str | None:
    config = json.loads((model_dir / "config.json").read_text())
    return config.get("dtype") or config.get("torch_dtype")


class TorchMergeCheck:
    """The MergeCheck port with torch and peft."""

    def check(self, checkpoint: Checkpoint, base: BaseInfo, model_dir: Path, dtype: str, progress: Progress) -> dict[str, Any]:
        written = model_tensors(model_dir, weight_files(model_dir))
        wanted = getattr(torch, CONFIG_DTYPES[dtype])
        wrong = sorted(n for n, s in written.items() if (found := _dtype(s)).is_floating_point and found != wanted)
        if wrong:
            raise PublishError(f"the merged model in {model_dir} holds {wrong[0]} as {written[wrong[0]].dtype}, not {dtype}")
        if (said := _config_dtype(model_dir)) not in (None, CONFIG_DTYPES[dtype]):
            raise PublishError(f"the merged model's config.json says dtype {said}, not {CONFIG_DTYPES[dtype]}")
        bits = base.quantization.bits if base.quantization else None
        base_files = model_tensors(Path(base.path), base.weight_files, bits)
        missing = sorted(set(base_files) - set(written))
        if missing:
            raise PublishError(f"the merged model in {model_dir} lacks {missing[0]}, which the base model has")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # memory-bound work: OpenMP threads on a busy core only wait on each other (ADR 003)
        try:
            return self._check(checkpoint, base, model_dir, base_files, written, progress)
        finally:
            torch.set_num_threads(threads)

    def _check(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        model_dir: Path,
        base_files: dict[str, Any],
        written: dict[str, Any],
        progress: Progress,
    ) -> dict[str, Any]:
        layers = None if checkpoint.is_full else _Layers(checkpoint, Path(base.path), base_files)
        uncovered = [] if layers is None else [*layers.uncovered, *(t for t in layers.layers if t not in written)]
        if uncovered:  # a layer the files do not name as peft does: the caller falls back to the full probe
            return {"tensors": 0, "uncovered": uncovered}
        worst, order = 0.0, sorted(written, key=lambda n: (str(written[n].path), written[n].start))
        with progress.task("check every merged tensor against peft", total=len(order), unit="tensors") as task:
            for name in order:
                worst = max(worst, self._error(name, written, base_files, layers))
                task.advance()
        release_freed_memory(collect=True)
        return {"merge_error": worst, "tensors": len(order), "uncovered": []}

    @staticmethod
    def _error(name: str, written: dict[str, Stored], base_files: dict[str, Any], layers: _Layers | None) -> float:
        stored = written[name]
        if layers is not None and name in layers.layers:
            return layers.error(name, written)
        if layers is not None and name in layers.saved:
            return copy_error(stored, layers.adapter[layers.saved[name]])
        source = base_files.get(name)
        if source is None and layers is not None:  # a head the merge untied: its tied partner's values
            source = next((base_files[a] for a in layers.tied.get(name, ()) if a in base_files), None)
        if source is None:
            raise PublishError(f"the merged model holds {name}, which neither the base model nor the adapter has")
        return copy_error(stored, source)


def _dtype(stored: Stored) -> torch.dtype:
    return getattr(torch, ST_DTYPE_ATTRS[stored.dtype])
