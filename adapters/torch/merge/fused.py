"""An adapter named after the model's modules in memory, placed on the tensors the base's files store.

transformers 5 names some modules otherwise in memory than in the files (a vision-language model's
`model.language_model.*`, Mixtral's router), and fuses a MoE's experts into 3D parameters that the files store one
tensor per expert. peft names an adapter's tensors after the modules in memory, and targets fused experts with
`target_parameters` (a `ParamWrapper`: `lora_A` (experts * r, in), `lora_B` (out, experts * r), nested as
`experts.base_layer...` when one module has several). The merge writes the base's own file layout, so:

- a LoRA or a saved tensor on a renamed module is moved to the file's name (weight_layout: transformers' mapping);
- a LoRA on a fused parameter gives that parameter's delta as peft computes it (`ParamWrapper.get_delta_weight`:
  einsum of B and A per expert, times alpha / r), turned into the delta of each file tensor by the reversal
  transformers saves with. It is computed in fp32 when the parameter's first file tensor is written, and each
  share dropped once written: the peak is the deltas of the fused parameters whose tensors the files interleave
  (about one layer's experts).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import attrs
import torch

from hubship.adapters.torch.merge.lora import Lora, scaling
from hubship.adapters.torch.merge.safetensors_reader import Stored, read_tensor
from hubship.adapters.torch.weight_layout import WeightLayout
from hubship.domain.errors import UserInputError

_WRAPPER = ".base_layer"


@attrs.frozen(eq=False)
class FusedLora:
    """A LoRA on a fused in-memory parameter `parameter` of `shape`; `swapped`: stored (experts, out, in)."""

    parameter: str
    shape: tuple[int, ...]
    a: Stored
    b: Stored
    scaling: float
    experts: int
    swapped: bool

    def delta(self) -> torch.Tensor:
        """The parameter's delta in fp32, in its in-memory shape, as peft's ParamWrapper computes it."""
        a = read_tensor(self.a).to(torch.float32).reshape(self.experts, -1, self.a.shape[1])  # (experts, r, in)
        b = read_tensor(self.b).to(torch.float32).reshape(self.b.shape[0], -1, self.experts)  # (out, r, experts)
        product = torch.einsum("ore,eri->eoi" if self.swapped else "ore,eri->eio", b, a)
        return product.mul_(self.scaling).reshape(self.shape)


class FusedDeltas:
    """Each file tensor's share of the fused LoRAs' deltas. A fused parameter's delta is computed when its first file
    tensor is written and each share is dropped once written, so only the parameters whose tensors the files
    interleave (a layer's gate/up and down experts) are held at once, and each is computed once."""

    def __init__(self, layout: WeightLayout) -> None:
        self._layout = layout
        self._held: dict[int, dict[str, torch.Tensor]] = {}

    def delta(self, lora: FusedLora, key: str) -> torch.Tensor:
        """The share of file tensor `key`, handed out once."""
        if id(lora) not in self._held:
            self._held[id(lora)] = self._layout.to_files({lora.parameter: lora.delta()})
        shares = self._held[id(lora)]
        share = shares.pop(key)
        if not shares:
            del self._held[id(lora)]
        return share

    def file_keys(self, lora: FusedLora) -> list[str]:
        """The file tensors the fused parameter is saved as (computed on meta: no values)."""
        return list(self._layout.to_files({lora.parameter: torch.empty(lora.shape, device="meta")}))


@attrs.frozen(eq=False)
class FileDelta:
    """The share of one file tensor (`key`) in a fused LoRA's delta."""

    lora: FusedLora
    key: str
    deltas: FusedDeltas

    def value(self) -> torch.Tensor:
        return self.deltas.delta(self.lora, self.key)


def _fused(name: str, lora: Lora, model: torch.nn.Module, config: dict[str, Any]) -> FusedLora | None:
    """The adapter's LoRA `name` (peft's module path, `.base_layer` for each nesting) as a LoRA on one of the
    `target_parameters` of its module, found by which of them its A and B fit."""
    container = name.replace(_WRAPPER, "")
    try:
        module = model.get_submodule(container)
    except AttributeError:
        return None
    targets = [str(t) for t in config.get("target_parameters") or ()]
    fits = []
    for short, param in module.named_parameters(recurse=False):
        if not any(f"{container}.{short}".endswith(t) for t in targets) or param.ndim not in (2, 3):
            continue
        swapped = param.ndim == 2 or not getattr(module, "is_transposed", False)
        experts = param.shape[0] if param.ndim == 3 else 1
        rows, cols = param.shape[-2:]
        fan_in, fan_out = (cols, rows) if swapped else (rows, cols)
        rank = lora.a.shape[0] // experts
        if lora.a.shape == (rank * experts, fan_in) and lora.b.shape == (fan_out, rank * experts) and rank:
            fits.append((f"{container}.{short}", tuple(param.shape), experts, swapped, rank))
    if len(fits) != 1:
        return None
    parameter, shape, experts, swapped, rank = fits[0]
    return FusedLora(parameter, shape, lora.a, lora.b, scaling(config, parameter, rank), experts, swapped)


def place(
    loras: dict[str, Lora], replaced: dict[str, Stored], stored: set[str], base_dir: Path, config: dict[str, Any], base_name: str
) -> tuple[dict[str, Lora], dict[str, Stored], dict[str, FileDelta]]:
    """The adapter's LoRAs and saved tensors under the names of the base's files (`stored`), and the per-file-tensor
    deltas of its LoRAs on fused parameters. An adapter that names only stored modules costs nothing here; one that
    does not has its names resolved with the base's modules built on meta (seconds) and transformers' mapping."""
    for name, lora in loras.items():  # a module's LoRA whose rank is not its r (left unscaled for a fused one): refused
        if math.isnan(lora.scaling) and f"{name}.weight" in stored:
            scaling(config, name, lora.a.shape[0])
    strays = [m for m in loras if f"{m}.weight" not in stored] + [n for n in replaced if n not in stored]
    if not strays:
        return loras, replaced, {}
    from hubship.adapters.torch.meta_model import skeleton  # the modeling code: only for an adapter that needs it

    model = skeleton(base_dir)
    layout = WeightLayout(model, stored)
    deltas = FusedDeltas(layout)

    def file_name(name: str) -> str:
        source = layout.source(name)
        return source.file_keys[0] if source is not None and source.converter is None else name

    placed: dict[str, Lora] = {}
    shares: dict[str, FileDelta] = {}
    for name, lora in loras.items():
        target = file_name(f"{name}.weight").removesuffix(".weight")
        if f"{target}.weight" in stored:
            if math.isnan(lora.scaling):
                scaling(config, name, lora.a.shape[0])
            placed[target] = attrs.evolve(lora, module=target)
            continue
        fused = _fused(name, lora, model, config) if not (lora.embedding or lora.magnitude or lora.bias) else None
        if fused is None:
            placed[name] = lora  # unknown to the base: the plan refuses it by name
            continue
        for key in deltas.file_keys(fused):
            if key not in stored:
                raise UserInputError(
                    f"base model {base_name} stores {fused.parameter} without {key}, where transformers saves it;"
                    " re-save the base with transformers 5, or publish with --format lora"
                )
            shares[key] = FileDelta(fused, key, deltas)
    clash = sorted({f"{m}.weight" for m in placed} & set(shares))
    if clash:
        raise UserInputError(f"the adapter changes {clash[0]} twice (as a module and as a fused parameter); re-save the adapter")
    return placed, {file_name(n): s for n, s in replaced.items()}, shares
