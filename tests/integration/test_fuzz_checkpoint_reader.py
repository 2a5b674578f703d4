"""Property-based test: whatever a checkpoint folder holds, inspecting it gives a Checkpoint or one clear line."""

from __future__ import annotations

import json
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.domain.errors import UserInputError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
configs = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"peft_type": st.sampled_from(["LORA", "IA3", "lora", 3]), "r": st.integers(-2, 64)},
        optional={"base_model_name_or_path": st.one_of(st.text(max_size=20), st.none()), "target_modules": json_values},
    ).map(lambda d: json.dumps(d).encode()),
)


def safetensors_bytes(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


weights = st.one_of(
    st.binary(max_size=64),
    st.builds(
        safetensors_bytes,
        st.fixed_dictionaries(
            {"w": st.fixed_dictionaries({"dtype": st.just("F32"), "shape": st.just([2]), "data_offsets": st.just([0, 8])})}
        ),
        st.binary(min_size=0, max_size=12),
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, weights, st.booleans())
def test_reader_never_crashes(config, weight_bytes, with_weights):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ckpt"
        root.mkdir()
        (root / "adapter_config.json").write_bytes(config)
        if with_weights:
            (root / "adapter_model.safetensors").write_bytes(weight_bytes)
        try:
            checkpoint = SafetensorsCheckpointReader().read(root, base=str(Path(tmp) / "base"))
        except UserInputError as exc:
            assert "\n" not in exc.message and exc.message
            return
        assert checkpoint.adapter_weights == "adapter_model.safetensors" and checkpoint.adapter_bytes > 8


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(width=32), min_size=1, max_size=16), st.sampled_from(["F32", "F16"]))
def test_reader_refuses_exactly_the_adapters_holding_nan_or_inf(values, dtype):
    import math

    import numpy as np

    array = np.array(values, dtype=np.float32 if dtype == "F32" else np.float16)  # float16 may overflow to inf
    header = {"w": {"dtype": dtype, "shape": [len(values)], "data_offsets": [0, array.nbytes]}}
    with tempfile.TemporaryDirectory() as tmp:
        _read_one(Path(tmp), header, array, all(math.isfinite(float(v)) for v in array))


def _read_one(tmp: Path, header: dict, array, finite: bool) -> None:
    root = tmp / "ckpt"
    root.mkdir()
    (root / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (root / "adapter_model.safetensors").write_bytes(safetensors_bytes(header, array.tobytes()))
    try:
        SafetensorsCheckpointReader().read(root, base=str(tmp / "base"))
    except UserInputError as exc:
        assert not finite and "NaN or infinite" in exc.message
        return
    assert finite


def _entry(dtype: str, shape: list, offsets: list) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets}


@pytest.mark.parametrize(
    ("header", "payload", "says"),
    [
        ({"a": _entry("F32", [2], [0, 8])}, b"\0" * 8, None),  # a valid file
        ({"a": _entry("F32", [3], [0, 8])}, b"\0" * 8, "not what its dtype and shape need"),
        ({"a": _entry("F32", [2], [0, 8]), "b": _entry("F32", [2], [4, 12])}, b"\0" * 12, "overlap or leave gaps"),
        ({"a": _entry("F32", [2], [0, 8]), "b": _entry("F32", [1], [12, 16])}, b"\0" * 16, "overlap or leave gaps"),
        ({"a": _entry("F32", [2.0], [0, 8])}, b"\0" * 8, "not whole numbers"),
        ({"a": _entry("Q4", [2], [0, 8])}, b"\0" * 8, "not a readable safetensors file"),
        ({"a": _entry("F32", [4], [0, 16])}, b"\0" * 8, "is truncated"),
        ({"__metadata__": {"format": "pt"}}, b"", "holds no tensors"),
    ],
)
def test_the_adapter_header_is_checked_as_safetensors_checks_it(tmp_path: Path, header: dict, payload: bytes, says: str | None):
    """Without safetensors' own reader (it imports numpy): sizes that fit dtype and shape, tensors end to end."""
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "target_modules": ["q_proj"]}))
    (tmp_path / "adapter_model.safetensors").write_bytes(safetensors_bytes(header, payload))
    if says is None:
        assert SafetensorsCheckpointReader().read(tmp_path, base=str(tmp_path / "base")).adapter_weights == "adapter_model.safetensors"
        return
    with pytest.raises(UserInputError, match=says):
        SafetensorsCheckpointReader().read(tmp_path, base=str(tmp_path / "base"))
