"""A GGUF file's header, read without loading it: its tensor count, its key/value metadata (whole, or up to a key),
its tensors' names.

Layout as gguf-py's `constants.py` and llama.cpp's `docs/gguf.md` give it (v2 and v3, little-endian): magic `GGUF`,
version (u32), tensor count (u64), key count (u64), then each key (a u64-length string), its value type (u32) and its
value (arrays as element type, count, elements), then each tensor's name, dimensions, type and offset. One pass:
gguf-py's GGUFReader maps every string as its own numpy parts and takes ~40 s on Gemma's 262k-token vocabulary.
llama.cpp writes `general.architecture` first, so `architecture` reads a few bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from hubship.domain.errors import PublishError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
ARCHITECTURE = "general.architecture"


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise PublishError(f"{Path(fh.name).name} ends inside its GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(fh: BinaryIO) -> str:
    return fh.read(_read(fh, "<Q")).decode("utf-8", errors="replace")


def _value(fh: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _string(fh)
    if kind == _ARRAY:
        item, count = _read(fh, "<I"), _read(fh, "<Q")
        if item in _SCALARS:  # one read for the whole array
            fmt = _SCALARS[item]
            return list(struct.unpack(f"<{count}{fmt[1]}", fh.read(count * struct.calcsize(fmt))))
        return [_value(fh, item) for _ in range(count)]
    return _read(fh, _SCALARS[kind])


def _head(fh: BinaryIO) -> tuple[int, int, int]:
    """(version, tensor count, key count)."""
    if fh.read(4) != b"GGUF":
        raise PublishError(f"{Path(fh.name).name} is not a GGUF file")
    return _read(fh, "<I"), _read(fh, "<Q"), _read(fh, "<Q")


def _pairs(fh: BinaryIO, count: int, until: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for _ in range(count):
        key = _string(fh)
        found[key] = _value(fh, _read(fh, "<I"))
        if key == until:
            break
    return found


def tensor_count(gguf: Path) -> int:
    """The GGUF header's tensor count (0 for a vocab-only file)."""
    with open(gguf, "rb") as fh:
        return _head(fh)[1]


def value(gguf: Path, key: str) -> Any:
    """The GGUF's value of `key` (None when it has none), read up to that key."""
    with open(gguf, "rb") as fh:
        return _pairs(fh, _head(fh)[2], key).get(key)


def architecture(gguf: Path) -> str:
    """The GGUF's `general.architecture` ("" when it has none)."""
    return str(value(gguf, ARCHITECTURE) or "")


def contents(gguf: Path) -> tuple[dict[str, Any], list[str]]:
    """(every key with its value, strings as text and arrays as lists, and the header's own three as gguf-py's reader
    lists them: `GGUF.version`, `GGUF.tensor_count`, `GGUF.kv_count`; the tensors' names)."""
    with open(gguf, "rb") as fh:
        version, tensors, count = _head(fh)
        metadata: dict[str, Any] = {"GGUF.version": version, "GGUF.tensor_count": tensors, "GGUF.kv_count": count}
        metadata.update(_pairs(fh, count, None))
        names = []
        for _ in range(tensors):  # name, dimensions, type, offset
            names.append(_string(fh))
            fh.read(8 * _read(fh, "<I") + 4 + 8)
        return metadata, names
