"""The merge plan: every tensor of the merged model, where its values come from, in write order, and the shards."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import attrs
import torch

from hubship.adapters.torch.bnb_weights import QuantizedWeight
from hubship.adapters.torch.merge.fused import FileDelta
from hubship.adapters.torch.merge.lora import Lora
from hubship.adapters.torch.merge.safetensors_reader import Stored, torch_dtype
from hubship.adapters.torch.model_files import model_tensors
from hubship.domain.errors import UserInputError


@attrs.frozen
class Output:
    """One tensor of the merged model: where its values come from (a stored tensor, or a quantized one that is
    dequantized), what is added to them (a LoRA, or its share of a fused parameter's LoRA) and what it becomes."""

    name: str
    source: Stored | QuantizedWeight
    shape: tuple[int, ...]
    dtype: torch.dtype
    lora: Lora | None = None
    delta: FileDelta | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def is_copy(self) -> bool:
        return self.lora is None and self.delta is None and isinstance(self.source, Stored) and torch_dtype(self.source.dtype) == self.dtype


def base_tensors(base_dir: Path, files: Iterable[str], bits: int | None = None) -> dict[str, Stored | QuantizedWeight]:
    """Every tensor of the base's weight files (quantized with bitsandbytes `bits`, or not: None) as the model
    stands, in file and offset order (the order they are read and written in)."""
    found = model_tensors(base_dir, tuple(files), bits)
    return dict(sorted(found.items(), key=lambda item: (str(item[1].path), item[1].start)))


def _check_lora(lora: Lora, shape: tuple[int, ...], base_name: str) -> None:
    if len(shape) != 2:
        raise UserInputError(f"the adapter targets {lora.module}, a {len(shape)}-d weight hubship cannot merge; publish with --format lora")
    rows, cols = (shape[1], shape[0]) if lora.transposed else shape
    if lora.embedding:
        fits = lora.a.shape == (lora.a.shape[0], rows) and lora.b.shape == (cols, lora.a.shape[0])
    else:
        fits = lora.a.shape == (lora.a.shape[0], cols) and lora.b.shape == (rows, lora.a.shape[0])
    magnitude = cols if lora.embedding else rows
    if not fits or (lora.magnitude is not None and lora.magnitude.shape != (magnitude,)):
        raise UserInputError(
            f"the adapter does not fit base model {base_name}: {lora.module} is {shape} in the base;"
            " pass --base with the model the adapter was trained on"
        )


def plan_outputs(
    base: dict[str, Stored | QuantizedWeight],
    loras: dict[str, Lora],
    replaced: dict[str, Stored],
    tied: list[set[str]],
    embeddings: set[str],
    dtype: torch.dtype,
    *,
    base_name: str,
    shares: dict[str, FileDelta] | None = None,
) -> tuple[list[Output], bool, int | None]:
    """The merged model's tensors in write order (`shares`: the file tensors' shares of fused LoRAs' deltas); whether
    tied weights were untied; the vocabulary size when grown."""
    shares = shares or {}
    alias = {n: group for group in tied for n in group}
    known = set(base) | set(alias)
    for name in [*(f"{m}.weight" for m in loras), *replaced]:
        if name not in known:
            raise UserInputError(
                f"the adapter changes {name.rsplit('.', 1)[0]}, which base model {base_name} does not have;"
                " pass --base with the model the adapter was trained on"
            )
    touched = {f"{m}.weight" for m in loras} | {f"{m}.bias" for m, lo in loras.items() if lo.bias is not None} | set(replaced)
    untie = any(group & touched for group in tied)

    def output(name: str, stored: Stored | QuantizedWeight) -> Output:
        source = replaced.get(name, stored)
        grows = name in embeddings and source.shape[1:] == stored.shape[1:] and source.shape[0] > stored.shape[0]
        if source.shape != stored.shape and not grows:
            raise UserInputError(
                f"the adapter's {name} is {source.shape} but the base's is {stored.shape}; pass --base with the right model"
            )
        module, _, leaf = name.rpartition(".")
        lora = loras.get(module) if leaf == "weight" or (leaf == "bias" and module in loras and loras[module].bias is not None) else None
        if lora is not None and leaf == "weight":
            _check_lora(lora, source.shape, base_name)
        out_dtype = dtype if torch_dtype(source.dtype).is_floating_point else torch_dtype(source.dtype)
        return Output(name=name, source=source, shape=source.shape, dtype=out_dtype, lora=lora, delta=shares.get(name))

    outputs: list[Output] = []
    stored_names = set(base)
    for name, stored in base.items():
        outputs.append(output(name, stored))
        if untie:  # the tied names the base file does not store get their own tensor
            outputs += [output(other, stored) for other in sorted(alias.get(name, set()) - stored_names)]
    for module, lora in loras.items():
        if lora.bias is not None and f"{module}.bias" not in base:
            raise UserInputError(
                f"the adapter has a LoRA bias (lora_bias) on {module}, whose base layer has no bias, so it cannot be merged;"
                " publish it with --format lora"
            )
    rows = {o.shape[0] for o in outputs if o.name in embeddings}
    if len(rows) > 1:
        raise UserInputError(
            "the adapter grows the vocabulary of one embedding but not the other (input and output rows differ);"
            " re-save it with save_embedding_layers=True"
        )
    grown = next(iter(rows)) if rows and any(base[n].shape[0] not in rows for n in embeddings if n in base) else None
    return outputs, untie, grown


def shard_plan(outputs: list[Output], max_shard_bytes: int) -> list[list[Output]]:
    """Outputs grouped into shards of at most `max_shard_bytes` (a bigger single tensor gets a shard of its own)."""
    shards: list[list[Output]] = [[]]
    size = 0
    for out in outputs:
        if shards[-1] and size + out.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(out)
        size += out.nbytes
    return shards
