"""Serialized bitsandbytes weights read as the model they stand for: logical shapes, and values dequantized by
bitsandbytes' own code, one tensor at a time, in fp32.

The one place hubship dequantizes: the merger's tensor reading, the verifier's streamed weights and the
loader's shape check all go through it.

How transformers saves a bitsandbytes model (bitsandbytes 0.4x-0.5x): a 4-bit weight `W.weight` is packed
uint8 `[n/2, 1]`, beside `W.weight.absmax`, `W.weight.quant_map` and `W.weight.quant_state.bitsandbytes__nf4`
(or `__fp4`: a JSON packed into uint8 with the logical shape, block size and dtype); double quantization adds
`W.weight.nested_absmax` and `W.weight.nested_quant_map`. An 8-bit weight `W.weight` is int8 with its logical
shape, beside `W.SCB` (fp32 row scales) and `W.weight_format`. `QuantState.from_dict` rebuilds a 4-bit quant
state from those tensors and `dequantize_4bit` gives the weight training used; `int8_vectorwise_dequant` does
the same for 8-bit. Both are computed in fp32 here (the quant state's dtype is set to fp32), so the result is
the stored codes times their scales with no rounding to the compute dtype; bitsandbytes' fused CPU/GPU forward
rounds a little differently (like its compute dtype).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from hubship.adapters.torch.merge.safetensors_reader import Stored, read_header, read_tensor
from hubship.domain.errors import UserInputError

if TYPE_CHECKING:
    import torch

STATE_PREFIX = "quant_state.bitsandbytes__"
_FOUR_BIT_PARTS = ("absmax", "quant_map")
_NESTED_PARTS = ("nested_absmax", "nested_quant_map")


@attrs.frozen
class QuantizedWeight:
    """One bitsandbytes-quantized weight: its stored `data` (packed uint8 or int8), the tensors of its quant state
    (`state`, by their name after the weight's), its `bits` and its logical `shape`. Reads as fp32, so `dtype` is
    F32; `path` and `start` place it in file order like a Stored tensor."""

    name: str
    bits: int
    data: Stored
    state: dict[str, Stored]
    shape: tuple[int, ...]
    dtype: str = "F32"

    @property
    def path(self) -> Path:
        return self.data.path

    @property
    def start(self) -> int:
        return self.data.start

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


def _bad(weight: str, what: str, path: Path) -> UserInputError:
    return UserInputError(
        f"the quantized base's {weight} in {path.name} has {what};"
        " re-download or re-save the 4-bit/8-bit base, or pass --base with its 16-bit model"
    )


def _four_bit(name: str, data: Stored, state: dict[str, Stored]) -> QuantizedWeight:
    packed = [k for k in state if k.startswith(STATE_PREFIX)]
    if len(packed) != 1:
        raise _bad(name, "no quant state (quant_state.bitsandbytes__nf4/fp4)" if not packed else "two quant states", data.path)
    try:
        meta = json.loads(bytes(read_tensor(state[packed[0]]).tolist()))
        shape = tuple(int(d) for d in meta["shape"])
        needed = [*_FOUR_BIT_PARTS, *(_NESTED_PARTS if "nested_blocksize" in meta else ())]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise _bad(name, f"a corrupt quant state ({packed[0]})", data.path) from None
    missing = [part for part in needed if part not in state]
    if missing:
        raise _bad(name, f"an incomplete quant state (no {', '.join(missing)})", data.path)
    if data.dtype != "U8" or math.prod(data.shape) * 2 != math.prod(shape):
        raise _bad(name, f"{data.dtype} {list(data.shape)} data that cannot hold its {list(shape)} 4-bit values", data.path)
    return QuantizedWeight(name, 4, data, state, shape)


def logical_tensors(tensors: dict[str, Stored], bits: int | None) -> dict[str, Stored | QuantizedWeight]:
    """The tensors of a model stored with bitsandbytes `bits` (4, 8, or None: not quantized) as the model they
    stand for: each quantized weight one QuantizedWeight under its own name, its quant-state tensors dropped, the
    rest as stored, in the same order. A quantized weight whose quant state is missing or corrupt is a
    UserInputError."""
    if bits is None:
        return dict(tensors)
    if bits == 8:
        return _eight_bit(tensors)
    parents = {}
    for key in tensors:  # W.weight.absmax -> W.weight: the companions of each quantized weight
        for part in (*_FOUR_BIT_PARTS, *_NESTED_PARTS):
            if key.endswith(f".{part}"):
                parents[key] = key.removesuffix(f".{part}")
        if f".{STATE_PREFIX}" in key:
            parents[key] = key.split(f".{STATE_PREFIX}")[0]
    states: dict[str, dict[str, Stored]] = {}
    for key, parent in parents.items():
        states.setdefault(parent, {})[key[len(parent) + 1 :]] = tensors[key]
    found: dict[str, Stored | QuantizedWeight] = {}
    for key, stored in tensors.items():
        if key in parents:
            continue
        if key in states or (stored.dtype == "U8" and len(stored.shape) == 2 and stored.shape[1] == 1 and key.endswith(".weight")):
            found[key] = _four_bit(key, stored, states.get(key, {}))
        else:
            found[key] = stored
    return found


def _eight_bit(tensors: dict[str, Stored]) -> dict[str, Stored | QuantizedWeight]:
    found: dict[str, Stored | QuantizedWeight] = {}
    for key, stored in tensors.items():
        module = key.rpartition(".")[0]
        if key.endswith((".SCB", ".weight_format")):
            continue
        if stored.dtype == "I8" and key.endswith(".weight"):
            scales = tensors.get(f"{module}.SCB")
            if scales is None or scales.shape != stored.shape[:1]:
                raise _bad(key, "no row scales (SCB)" if scales is None else f"row scales of shape {list(scales.shape)}", stored.path)
            layout = tensors.get(f"{module}.weight_format")
            if layout is not None and int(read_tensor(layout).reshape(-1)[0]) != 0:
                raise _bad(key, "a tiled int8 layout (weight_format is not row)", stored.path)
            found[key] = QuantizedWeight(key, 8, stored, {"SCB": scales}, stored.shape)
        else:
            found[key] = stored
    return found


def dequantize(weight: QuantizedWeight, device: torch.device | str = "cpu") -> torch.Tensor:
    """The weight's values in fp32 and its logical shape, as bitsandbytes dequantizes them (a fresh tensor), on
    `device` (a GPU: its codes and quant state are copied there and dequantized by bitsandbytes' CUDA kernels)."""
    import bitsandbytes.functional as bnb
    import torch

    data = read_tensor(weight.data).to(device)
    if weight.bits == 8:
        return bnb.int8_vectorwise_dequant(data, read_tensor(weight.state["SCB"]).to(device, torch.float32)).reshape(weight.shape)
    try:
        state = bnb.QuantState.from_dict({k: read_tensor(v) for k, v in weight.state.items()}, device=torch.device(device))
    except (ValueError, KeyError, AssertionError, AttributeError) as exc:
        raise _bad(weight.name, f"a quant state bitsandbytes cannot read ({exc})", weight.path) from None
    state.dtype = torch.float32  # dequantize straight to fp32: codes times scales, not rounded to the stored dtype
    return bnb.dequantize_4bit(data, state).reshape(weight.shape).to(torch.float32)


def read_source(source: Stored | QuantizedWeight, into: torch.Tensor | None = None) -> torch.Tensor:
    """A tensor's values: read as stored (into the reusable uint8 buffer `into`, when given), or dequantized."""
    return dequantize(source) if isinstance(source, QuantizedWeight) else read_tensor(source, into)


def quantized_weights(files: list[Path], bits: int | None) -> dict[str, QuantizedWeight]:
    """The quantized weights of a model's weight `files` (bitsandbytes `bits`; None: there are none), by name."""
    if bits is None:
        return {}
    stored: dict[str, Stored] = {}
    for path in files:
        stored.update(read_header(path, "the quantized base"))
    return {k: v for k, v in logical_tensors(stored, bits).items() if isinstance(v, QuantizedWeight)}
