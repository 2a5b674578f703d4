"""The Unsloth merge writes safetensors on every machine, and hubship checks before anything continues.

No GPU here: a stand-in FastLanguageModel (tests/fakes/unsloth.py) writes what Unsloth's merged save writes,
and fake output folders hold what a save could leave. tests/gpu runs the real Unsloth where a GPU is.
"""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest

from hubship.adapters.unsloth.merger import UnslothMerger, check_safetensors
from hubship.domain.errors import PublishError
from hubship.domain.secrets import is_pickle
from tests.fakes.checkpoint import FakeCheckpointReader, FakeModelLoader
from tests.fakes.progress import FakeProgress
from tests.fakes.unsloth import FakeFastLanguageModel


def folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    out = tmp_path / "merged"
    out.mkdir()
    for name, data in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return out


def safetensors_bytes(header_length: int | None = None) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header = header.ljust(header_length or len(header))
    return struct.pack("<Q", len(header)) + header + b"\x00\x00\x80\x3f"


CONFIG = b'{"architectures": ["LlamaForCausalLM"]}'


def test_a_safetensors_save_passes(tmp_path):
    check_safetensors(folder(tmp_path, {"config.json": CONFIG, "model-00001-of-00002.safetensors": safetensors_bytes()}))


def test_a_safetensors_file_whose_header_length_starts_like_a_pickle_is_not_one(tmp_path):
    data = safetensors_bytes(header_length=0x0280)  # its first bytes are 0x80 0x02, a pickle's protocol-2 opening
    assert data[:2] == b"\x80\x02" and not is_pickle("model.safetensors", data[:16])
    check_safetensors(folder(tmp_path, {"config.json": CONFIG, "model.safetensors": data}))


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"pytorch_model.bin": pickle.dumps({"w": 1}, protocol=2)}, "pytorch_model.bin"),
        ({"model.safetensors": safetensors_bytes(), "extra/weights.pt": b"PK\x03\x04"}, "extra/weights.pt"),
        ({"pytorch_model-00001-of-00002.bin": b"PK\x03\x04zip of pickles"}, "pytorch_model-00001-of-00002.bin"),
    ],
)
def test_a_pickle_in_the_save_is_refused_naming_it(tmp_path, files, named):
    with pytest.raises(PublishError) as refused:
        check_safetensors(folder(tmp_path, {"config.json": CONFIG, **files}))
    assert f"pickled weights ({named})" in refused.value.message and "--backend hf" in refused.value.message


def test_a_save_without_safetensors_is_refused(tmp_path):
    with pytest.raises(PublishError, match=r"wrote no \.safetensors weights"):
        check_safetensors(folder(tmp_path, {"config.json": CONFIG}))


def merge(tmp_path: Path, unsloth: FakeFastLanguageModel) -> Path:
    checkpoint = FakeCheckpointReader().read(tmp_path / "ckpt")
    base = FakeModelLoader(tmp_path / "base").base_info(checkpoint.base)
    out = tmp_path / "staging"
    out.mkdir()
    UnslothMerger(library=unsloth.library).merge(checkpoint, base, out, dtype=None, max_shard_bytes=10**9, progress=FakeProgress())
    return out


def test_the_merge_asks_unsloth_for_safetensors_in_the_way_that_works_on_two_cpus(tmp_path):
    unsloth = FakeFastLanguageModel(pickle_when_true=True)  # as Unsloth behaves on a machine with <= 2 CPUs
    out = merge(tmp_path, unsloth)
    assert unsloth.saves[0]["safe_serialization"] is None and unsloth.saves[0]["save_method"] == "merged_16bit"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]  # its README is not kept
    assert not any(p.name.startswith(".unsloth-") for p in tmp_path.iterdir())  # its temporary folder is gone


def test_an_unsloth_that_writes_a_pickle_anyway_stops_the_merge(tmp_path):
    with pytest.raises(PublishError, match=r"pickled weights \(pytorch_model.bin\)"):
        merge(tmp_path, FakeFastLanguageModel(always_pickle=True))
