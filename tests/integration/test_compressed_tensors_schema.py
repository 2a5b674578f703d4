"""The quantization_config llm-compressor saves is checked against compressed-tensors' own schema (as vLLM reads it):
a config that does not validate, or that quantizes lm_head, is a PublishError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubship.adapters.llm_compressor.schema import check_quantization_config
from hubship.domain.errors import PublishError

FP8 = {
    "quant_method": "compressed-tensors",
    "format": "float-quantized",
    "quantization_status": "compressed",
    "ignore": ["lm_head"],
    "config_groups": {
        "group_0": {
            "targets": ["Linear"],
            "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "symmetric": True, "dynamic": False},
            "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "symmetric": True, "dynamic": True},
        }
    },
}


def _config(tmp_path: Path, quantization_config: dict | None) -> Path:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "quantization_config": quantization_config}))
    return tmp_path / "config.json"


def test_a_valid_config_passes(tmp_path: Path) -> None:
    assert check_quantization_config(_config(tmp_path, FP8), ["lm_head"])["format"] == "float-quantized"


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (None, "has no compressed-tensors quantization_config"),
        ({**FP8, "quant_method": "bitsandbytes"}, "has no compressed-tensors quantization_config"),
        (
            {**FP8, "config_groups": {"group_0": {"targets": "Linear", "weights": {"num_bits": "eight"}}}},
            "fails compressed-tensors' schema",
        ),
        ({**FP8, "ignore": []}, "quantizes lm_head"),
    ],
)
def test_a_config_vllm_would_not_read_as_meant_fails(tmp_path: Path, broken: dict | None, message: str) -> None:
    with pytest.raises(PublishError, match=message):
        check_quantization_config(_config(tmp_path, broken), ["lm_head"])
