"""A GGUF file's key/value metadata, read in one pass (the tests' tokenizer builders read whole vocabularies from
llama.cpp's `ggml-vocab-*.gguf`; gguf-py's GGUFReader maps every string as its own numpy parts and takes ~40 s on
Gemma's 262k tokens, this takes well under a second). Layout as gguf-py's `constants.py` and llama.cpp's
`docs/gguf.md` give it: magic, version, tensor count, key count, then each key (a length-prefixed string), its value
type and its value; arrays as element type, count, elements."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("the GGUF file ends inside its metadata")
    return struct.unpack(fmt, data)[0]


def _string(fh: BinaryIO) -> str:
    return fh.read(_read(fh, "<Q")).decode("utf-8", errors="replace")


def _value(fh: BinaryIO, kind: int) -> Any:
    if kind == STRING:
        return _string(fh)
    if kind == ARRAY:
        item, count = _read(fh, "<I"), _read(fh, "<Q")
        if item in _SCALARS:  # one read for the whole array
            fmt = _SCALARS[item]
            return list(struct.unpack(f"<{count}{fmt[1]}", fh.read(count * struct.calcsize(fmt))))
        return [_value(fh, item) for _ in range(count)]
    return _read(fh, _SCALARS[kind])


def gguf_contents(path: Path) -> tuple[dict[str, Any], list[str]]:
    """(every key of the GGUF file at `path` with its value, strings as text and arrays as lists; its tensors' names)."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version, tensors, count = _read(fh, "<I"), _read(fh, "<Q"), _read(fh, "<Q")
        # the header's own three, as gguf-py's reader lists them among the fields
        metadata: dict[str, Any] = {"GGUF.version": version, "GGUF.tensor_count": tensors, "GGUF.kv_count": count}
        metadata.update({_string(fh): _value(fh, _read(fh, "<I")) for _ in range(count)})
        names = []
        for _ in range(tensors):  # name, dimensions, type, offset
            names.append(_string(fh))
            fh.read(8 * _read(fh, "<I") + 4 + 8)
        return metadata, names


def gguf_metadata(path: Path) -> dict[str, Any]:
    """Every key of the GGUF file at `path` with its value (see gguf_contents)."""
    return gguf_contents(path)[0]
