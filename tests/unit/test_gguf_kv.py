"""The in-place boolean of a GGUF's metadata (adapters.llama_cpp.gguf_kv), on files laid out as gguf-py writes them."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hubship.adapters.llama_cpp.gguf_kv import ADD_BOS, read_bool, set_bool
from hubship.domain.errors import PublishError


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf(path: Path, add_bos: bool | None) -> Path:
    """A header with the kinds of values a converter writes before add_bos_token: strings, a string array, numbers."""
    pairs = [
        _string("general.architecture") + struct.pack("<I", 8) + _string("llama"),
        _string("llama.block_count") + struct.pack("<II", 4, 2),
        _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + b"".join(_string(t) for t in ("<s>", "a", "b")),
        _string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0, -1, -2),
    ]
    if add_bos is not None:
        pairs.append(_string(ADD_BOS) + struct.pack("<IB", 7, add_bos))
    pairs.append(_string("tokenizer.chat_template") + struct.pack("<I", 8) + _string("{{ bos_token }}"))
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + b"".join(pairs) + b"\0" * 32)
    return path


def test_a_bool_is_read_and_set_in_place_without_moving_a_byte(tmp_path):
    path = gguf(tmp_path / "m.gguf", add_bos=False)
    size = path.stat().st_size
    assert read_bool(path, ADD_BOS) is False
    assert set_bool(path, ADD_BOS, True) and read_bool(path, ADD_BOS) is True and path.stat().st_size == size
    assert path.read_bytes().endswith(b"{{ bos_token }}" + b"\0" * 32)


def test_an_absent_key_is_reported_not_invented(tmp_path):
    path = gguf(tmp_path / "m.gguf", add_bos=None)
    before = path.read_bytes()
    assert read_bool(path, ADD_BOS) is None and not set_bool(path, ADD_BOS, True) and path.read_bytes() == before
    assert read_bool(path, "general.architecture") is None  # a string is not a boolean


def test_a_file_that_is_no_gguf_is_a_one_line_error(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"NOPE" + b"\0" * 64)
    with pytest.raises(PublishError, match="not a GGUF file"):
        read_bool(tmp_path / "x.gguf", ADD_BOS)
