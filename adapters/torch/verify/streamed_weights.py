"""A model run block by block from its files: each block's weights are read just before it runs and dropped right
after, and a big Linear/Embedding computes its output from slabs of rows, so at most about one block is resident.
Weights quantized with bitsandbytes are dequantized (bnb_weights) as they are read, one tensor at a time; a big
quantized Linear is dequantized whole (4-bit blocks do not split into rows), then dropped. A parameter the files
store under another name or in other tensors (transformers 5's renamed modules, fused MoE experts) is built from
them as from_pretrained builds it (weight_layout)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from hubship.adapters.torch.bnb_weights import dequantize, quantized_weights
from hubship.adapters.torch.meta_model import blocks
from hubship.adapters.torch.model_files import file_keys
from hubship.adapters.torch.verify.memory import release_freed_memory
from hubship.adapters.torch.weight_layout import Source, WeightLayout
from hubship.domain.errors import UserInputError

SLAB_ELEMENTS = 4 * 1024 * 1024  # rows converted at once when a weight is read
BIG_LEAF_BYTES = 32 * 1024 * 1024  # a Linear/Embedding this big in fp32 runs slab by slab
_WRAPPERS = re.compile(r"\.(base_layer|original_module)(?=\.)")


def read_rows(
    path: Path, key: str, start: int = 0, stop: int | None = None, slab: int = SLAB_ELEMENTS, into: torch.Tensor | None = None
) -> torch.Tensor:
    """Rows [start, stop) of a tensor in a safetensors file, in fp32, converted a slab at a time (into `into` when it
    has their shape). The file is mapped anew for each slab, so at most one slab of its pages is resident beside
    the result (never a stored copy)."""
    with safe_open(str(path), framework="pt") as f:
        shape = list(f.get_slice(key).get_shape())
        if len(shape) < 2:
            return f.get_tensor(key).to(torch.float32)[start:stop]
    stop = shape[0] if stop is None else min(stop, shape[0])
    wanted = [stop - start, *shape[1:]]
    fits = into is not None and list(into.shape) == wanted and into.dtype == torch.float32
    value = into if fits and into is not None else torch.empty(wanted, dtype=torch.float32)
    step = max(1, slab // max(1, math.prod(shape[1:])))
    for first in range(start, stop, step):
        with safe_open(str(path), framework="pt") as f:
            value[first - start : first - start + step] = f.get_slice(key)[first : min(first + step, stop)]
    return value


def streamable_leaves(model: nn.Module, big_leaf_bytes: int) -> dict[str, nn.Module]:
    """Plain Linear/Embedding modules too big to hold in fp32 at once (an embedding, an output head), whose weight
    only their own forward reads (not under DoRA, which reads its base weight directly)."""
    found = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if type(module) not in (nn.Linear, nn.Embedding) or weight is None or weight.device.type != "meta":
            continue
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        if weight.numel() * 4 >= big_leaf_bytes and not getattr(parent, "lora_magnitude_vector", None):
            found[name] = module
    return found


class StreamedWeights:
    """Fills a block's meta parameters from the safetensors files before it runs and empties them after; a big
    Linear/Embedding instead computes its output from slabs of rows read as it goes. `remove()` undoes the hooks.

    On another `device` (a GPU) the same: each block's weights are read on the CPU, copied into the device's
    tensors of the block before (decoder layers share their shapes), and dropped from the device after the
    next block; a slab goes to the device just for its product. The model's real buffers (rotary tables) are
    moved there once."""

    def __init__(
        self,
        model: nn.Module,
        files: list[Path],
        aliases: dict[str, list[str]],
        prefix: str,
        progress_task: Any,
        *,
        adapter: tuple[Path, dict[str, str]] | None = None,
        slab: int = SLAB_ELEMENTS,
        big_leaf_bytes: int = BIG_LEAF_BYTES,
        bits: int | None = None,
        layout: WeightLayout | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self._device = torch.device(device)
        self._where = file_keys(files)
        self._layout = layout
        self._quantized = quantized_weights(files, bits)
        self._adapter_file, self._adapter_keys = adapter or (Path(), {})
        self._slab = slab
        self._aliases = aliases
        self._prefix = prefix
        self._task = progress_task
        self._handles: list[Any] = []
        self._patched: list[nn.Module] = []
        self._spare: dict[tuple[int, ...], list[torch.Tensor]] = {}  # the last block's fp32 weights, by shape
        if self._device.type != "cpu":
            for module in model.modules():
                for key, buffer in module._buffers.items():
                    if buffer is not None and buffer.device.type != "meta":
                        module._buffers[key] = buffer.to(self._device)
        streamed = set()
        for name, leaf in streamable_leaves(model, big_leaf_bytes).items():
            leaf.forward = self._slab_forward(leaf, name)  # an instance attribute: removed again in remove()
            self._patched.append(leaf)
            streamed.add(id(leaf))
        for block in blocks(model):
            module = model.get_submodule(block)
            slots = []
            for sub, param in module.named_parameters(remove_duplicate=False):
                owner = module.get_submodule(sub.rpartition(".")[0]) if "." in sub else module
                if param.device.type == "meta" and id(owner) not in streamed:
                    slots.append((owner, sub.rpartition(".")[2], f"{block}.{sub}"))
            self._handles.append(module.register_forward_pre_hook(self._loader(slots)))
            self._handles.append(module.register_forward_hook(self._unloader(slots)))

    def _located(self, name: str) -> tuple[Path, str]:
        if name in self._adapter_keys:
            return self._adapter_file, self._adapter_keys[name]
        plain = _WRAPPERS.sub("", name.removeprefix(self._prefix))
        # a tied tensor is read under its first name, as transformers loads it (a tied head from the embedding's values,
        # whatever else the files hold under the head's name)
        for candidate in dict.fromkeys((*self._aliases.get(plain, ()), plain)):
            if candidate in self._where:
                return self._where[candidate], candidate
            source = self._layout.source(candidate) if self._layout is not None else None
            if source is not None and source.converter is None and source.file_keys[0] in self._where:
                return self._where[source.file_keys[0]], source.file_keys[0]
        raise UserInputError(
            f"the model files hold no weight named {plain!r} (incomplete, or named differently from the modules),"
            " so it cannot be verified block by block; check the folder, or publish with --verify off"
        )

    def _converted(self, name: str) -> Source | None:
        """The source of a parameter that transformers builds from several file tensors (fused experts), if it is one."""
        if self._layout is None or name in self._adapter_keys:
            return None
        plain = _WRAPPERS.sub("", name.removeprefix(self._prefix))
        source = self._layout.source(plain) if plain not in self._where else None
        return source if source is not None and source.converter is not None else None

    def _to_device(self, value: torch.Tensor, into: torch.Tensor | None = None) -> torch.Tensor:
        """`value` on the verifier's device: itself on the CPU, else copied into `into` (a device tensor of its shape
        from the block before) or a fresh device tensor."""
        if self._device.type == "cpu" or value.device == self._device:
            return value
        if into is not None and into.shape == value.shape:
            return into.copy_(value)
        return value.to(self._device)

    def _read_key(self, key: str) -> torch.Tensor:
        if key not in self._where:
            raise UserInputError(f"the model files hold no weight named {key!r}; check the folder, or publish with --verify off")
        if key in self._quantized:
            return dequantize(self._quantized[key], self._device)
        return read_rows(self._where[key], key, slab=self._slab)

    def _read(self, name: str, start: int = 0, stop: int | None = None, into: torch.Tensor | None = None) -> torch.Tensor:
        """Rows [start, stop) of the named parameter in fp32: read from its file (into `into` if it fits), dequantized,
        or built from the file tensors it is stored as."""
        converted = self._converted(name)
        if converted is not None and self._layout is not None:
            return self._layout.value(converted, self._read_key).to(torch.float32)[start:stop]
        path, key = self._located(name)
        if path != self._adapter_file and key in self._quantized:
            return dequantize(self._quantized[key], self._device)[start:stop]
        return read_rows(path, key, start, stop, self._slab, into)

    def _slab_forward(self, leaf: nn.Module, name: str) -> Any:
        weight = f"{name}.weight"
        rows = leaf.weight.shape[0]
        whole = self._located(weight)[1] in self._quantized
        step = rows if whole else max(1, self._slab // leaf.weight.shape[1])
        bias = f"{name}.bias" if getattr(leaf, "bias", None) is not None else None

        def linear(x: torch.Tensor) -> torch.Tensor:
            out = x.new_empty((*x.shape[:-1], rows))
            for start in range(0, rows, step):
                out[..., start : start + step] = x @ self._to_device(self._read(weight, start, start + step)).T
            return out + self._to_device(self._read(bias)) if bias is not None else out

        def embedding(ids: torch.Tensor) -> torch.Tensor:
            wanted, where = ids.cpu().unique(return_inverse=True)
            picked = torch.empty((len(wanted), leaf.weight.shape[1]), dtype=torch.float32)
            for start in range(0, rows, step):
                inside = (wanted >= start) & (wanted < start + step)
                if inside.any():
                    picked[inside] = self._read(weight, start, start + step)[wanted[inside] - start]
            return self._to_device(picked[where])

        return embedding if isinstance(leaf, nn.Embedding) else linear

    def _loader(self, slots: list[tuple[nn.Module, str, str]]) -> Any:
        """Fills the block's weights, into the last block's fp32 tensors of the same shape where there are some
        (decoder layers share their shapes): no fresh memory to fault in per block."""

        def load(module: nn.Module, args: Any) -> None:
            spare, self._spare = self._spare, {}
            for owner, attr, name in slots:
                reuse = spare.get(tuple(owner._parameters[attr].shape))
                into = reuse.pop() if reuse else None
                on_cpu = self._device.type == "cpu"
                value = self._to_device(self._read(name, into=into if on_cpu else None), None if on_cpu else into)
                owner._parameters[attr] = nn.Parameter(value, requires_grad=False)
            if any(spare.values()):  # shapes this block does not have: given back now
                spare.clear()
                release_freed_memory()

        return load

    def _unloader(self, slots: list[tuple[nn.Module, str, str]]) -> Any:
        metas = [(owner, attr, owner._parameters[attr]) for owner, attr, _ in slots]

        def unload(module: nn.Module, args: Any, output: Any) -> None:
            for owner, attr, meta in metas:
                self._spare.setdefault(tuple(meta.shape), []).append(owner._parameters[attr].data)
                owner._parameters[attr] = meta
            release_freed_memory()  # the block's activations: the weights stay, for the next block
            self._task.advance()

        return unload

    def remove(self) -> None:
        self._spare = {}
        for handle in self._handles:
            handle.remove()
        for leaf in self._patched:
            del leaf.forward
