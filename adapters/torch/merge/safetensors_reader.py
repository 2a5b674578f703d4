"""Safetensors files read without a memory map: the header checked against the file's size, one tensor's bytes at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from hubship.domain.errors import UserInputError

if TYPE_CHECKING:
    import torch

# safetensors' dtype names and torch's names for them; torch is imported only when a tensor is read, so that
# reading headers (the plan) does not pay for importing it
ST_DTYPE_ATTRS = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of a safetensors dtype name (one of ST_DTYPE_ATTRS)."""
    import torch

    return getattr(torch, ST_DTYPE_ATTRS[name])


def dtype_name(dtype: torch.dtype) -> str:
    """The safetensors name of a torch dtype."""
    return next(k for k, v in ST_DTYPE_ATTRS.items() if str(dtype) == f"torch.{v}")


@attrs.frozen
class Stored:
    """One tensor inside a safetensors file: where its bytes are and what they hold."""

    path: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def read_header(path: Path, what: str) -> dict[str, Stored]:
    """Every tensor of a safetensors file, checked against the file's size (a truncated file is a UserInputError)."""
    size = path.stat().st_size
    fix = f"re-download or re-save {what}"
    with path.open("rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        if size < 8 or length <= 0 or 8 + length > size:
            raise UserInputError(f"{path} is truncated or not a safetensors file ({size} bytes); {fix}")
        try:
            header = json.loads(fh.read(length))
        except (ValueError, UnicodeDecodeError):
            raise UserInputError(f"{path} has a corrupt safetensors header; {fix}") from None
    found = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        if 8 + length + end > size:
            raise UserInputError(f"{path} is truncated ({size} bytes, its header promises {8 + length + end}); {fix}")
        if meta["dtype"] not in ST_DTYPE_ATTRS:
            raise UserInputError(f"{path} holds {key} as {meta['dtype']}, which hubship cannot merge; {fix} in bf16, fp16 or fp32")
        found[key] = Stored(path, meta["dtype"], tuple(meta["shape"]), 8 + length + begin, 8 + length + end)
    return found


def read_tensor(stored: Stored, into: torch.Tensor | None = None, rows: tuple[int, int] | None = None) -> torch.Tensor:
    """The tensor's values (or its `rows` [start, stop) only), read with plain file reads (no mapping of the file) into
    fresh memory or into `into` (a uint8 buffer of at least that size, reused from tensor to tensor)."""
    import torch

    shape, offset, nbytes = stored.shape, 0, stored.nbytes
    if rows is not None:
        row_bytes = stored.nbytes // stored.shape[0] if stored.shape and stored.shape[0] else stored.nbytes
        shape, offset, nbytes = (rows[1] - rows[0], *stored.shape[1:]), rows[0] * row_bytes, (rows[1] - rows[0]) * row_bytes
    buffer = torch.empty(nbytes, dtype=torch.uint8) if into is None else into[:nbytes]
    with stored.path.open("rb") as fh:
        fh.seek(stored.start + offset)
        if nbytes and fh.readinto(memoryview(buffer.numpy())) != nbytes:
            raise UserInputError(f"{stored.path} ended early; re-download or re-save it")
    return buffer.view(torch_dtype(stored.dtype)).reshape(shape)
