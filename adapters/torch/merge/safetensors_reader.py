"""Safetensors files read without a memory map: the header checked against the file's size, one tensor's bytes at a time."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import torch

from hubship.domain.errors import UserInputError

ST_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


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
        if meta["dtype"] not in ST_DTYPES:
            raise UserInputError(f"{path} holds {key} as {meta['dtype']}, which hubship cannot merge; {fix} in bf16, fp16 or fp32")
        found[key] = Stored(path, meta["dtype"], tuple(meta["shape"]), 8 + length + begin, 8 + length + end)
    return found


def read_tensor(stored: Stored, into: torch.Tensor | None = None) -> torch.Tensor:
    """The tensor's values, read with plain file reads (no mapping of the file) into fresh memory or into `into`
    (a uint8 buffer of at least its size, reused from tensor to tensor)."""
    buffer = torch.empty(stored.nbytes, dtype=torch.uint8) if into is None else into[: stored.nbytes]
    with stored.path.open("rb") as fh:
        fh.seek(stored.start)
        if stored.nbytes and fh.readinto(memoryview(buffer.numpy())) != stored.nbytes:
            raise UserInputError(f"{stored.path} ended early; re-download or re-save it")
    return buffer.view(ST_DTYPES[stored.dtype]).reshape(stored.shape)
