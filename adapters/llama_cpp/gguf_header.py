"""A GGUF file's header, read without loading it: its tensor count and its `general.architecture`.

The layout is GGUF's (v2 and v3, little-endian): magic `GGUF`, version (u32), tensor count (u64), key-value count
(u64), then each key (a u64-length string), its value type (u32) and value. llama.cpp writes `general.architecture`
first; the reader skips any pairs before it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from hubship.domain.errors import PublishError

_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def _head(fh: BinaryIO, gguf: Path) -> tuple[int, int]:
    head = fh.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise PublishError(f"{gguf.name} is not a GGUF file")
    return struct.unpack("<QQ", head[8:24])


def tensor_count(gguf: Path) -> int:
    """The GGUF header's tensor count (0 for a vocab-only file)."""
    with open(gguf, "rb") as fh:
        return _head(fh, gguf)[0]


def _string(fh: BinaryIO) -> bytes:
    (length,) = struct.unpack("<Q", fh.read(8))
    return fh.read(length)


def _skip(fh: BinaryIO, kind: int) -> None:
    if kind == _STRING:
        _string(fh)
    elif kind == _ARRAY:
        item, count = struct.unpack("<IQ", fh.read(12))
        if item in _SIZES:
            fh.seek(_SIZES[item] * count, 1)
        else:
            for _ in range(count):
                _skip(fh, item)
    else:
        fh.seek(_SIZES[kind], 1)


def architecture(gguf: Path) -> str:
    """The GGUF's `general.architecture` ("" when it has none)."""
    with open(gguf, "rb") as fh:
        _, pairs = _head(fh, gguf)
        for _ in range(pairs):
            key, (kind,) = _string(fh), struct.unpack("<I", fh.read(4))
            if key == b"general.architecture" and kind == _STRING:
                return _string(fh).decode("utf-8")
            _skip(fh, kind)
    return ""
