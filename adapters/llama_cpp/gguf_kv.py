"""Reads and sets a boolean key of a GGUF file's metadata in place (the standard library only).

A GGUF starts with its magic, version, tensor and key/value counts, then the key/value pairs (a key string, a
value type, the value) before the tensor infos (gguf-py's `constants.py` and llama.cpp's `gguf.h` describe the
layout). A boolean is one byte, so setting one that the converter wrote changes no offset: the file is patched
where it lies, however large its tensors. `tokenizer.ggml.add_bos_token` is the one hubship sets (bos_choice).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

from hubship.domain.errors import PublishError

ADD_BOS = "tokenizer.ggml.add_bos_token"
_MAGIC = b"GGUF"
_BOOL, _STRING, _ARRAY = 7, 8, 9
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # value type -> bytes


class _Cursor:
    def __init__(self, data: mmap.mmap) -> None:
        self.data, self.at = data, 0

    def read(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def string(self) -> bytes:
        size = self.read("Q")
        self.at += size
        return bytes(self.data[self.at - size : self.at])

    def skip(self, kind: int) -> None:
        if kind in _FIXED:
            self.at += _FIXED[kind]
        elif kind == _STRING:
            size = self.read("Q")  # read first: `self.at += self.read(...)` would add to the offset before the read
            self.at += size
        elif kind == _ARRAY:
            inner, count = self.read("I"), self.read("Q")
            if inner in _FIXED:
                self.at += _FIXED[inner] * count
            else:
                for _ in range(count):
                    self.skip(inner)
        else:
            raise PublishError(f"unknown GGUF value type {kind}")


def _find(data: mmap.mmap, key: str) -> tuple[int, int] | None:
    """(value type, offset of the value) of `key`, or None when the file has no such key."""
    cursor = _Cursor(data)
    if bytes(data[:4]) != _MAGIC:
        raise PublishError("not a GGUF file (bad magic)")
    cursor.at = 8
    cursor.read("Q")
    pairs = cursor.read("Q")
    wanted = key.encode()
    for _ in range(pairs):
        name, kind = cursor.string(), cursor.read("I")
        if name == wanted:
            return kind, cursor.at
        cursor.skip(kind)
    return None


def read_bool(path: Path, key: str) -> bool | None:
    """The boolean value of `key` in the GGUF at `path` (None: absent)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        found = _find(data, key)
        return None if found is None or found[0] != _BOOL else bool(data[found[1]])


def set_bool(path: Path, key: str, value: bool) -> bool:
    """Set the boolean `key` of the GGUF at `path` in place; False when the file has no such boolean key."""
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as data:
        found = _find(data, key)
        if found is None or found[0] != _BOOL:
            return False
        data[found[1]] = int(value)
        data.flush()
    return True
