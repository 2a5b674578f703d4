"""Formats fp8-dynamic and w4a16 at plan time, on a known shape (test_memory_estimates' 2-layer Llama): their params,
the refusals (a missing extra, a layer that does not fill W4A16's groups), sizes between 4-bit and 16-bit, and
the card's `vllm serve` line. The builds themselves run llm-compressor: tests/integration/test_compressed_tensors.py."""

from __future__ import annotations

import attrs
import pytest

from hubship.application.formats.compressed_tensors import GROUP_SIZE, Fp8DynamicFormat, W4a16Format, indivisible_layer
from hubship.application.formats.sizes import merged_bytes
from hubship.domain.errors import UserInputError
from tests.unit.test_memory_estimates import BASE, CHECKPOINT, HIDDEN


class _Compressor:
    def __init__(self, reason: str | None) -> None:
        self.reason = reason

    def missing(self) -> str | None:
        return self.reason


def test_params_name_the_scheme_and_what_stays_16_bit() -> None:
    fp8, w4 = Fp8DynamicFormat().params({}, BASE), W4a16Format().params({}, BASE)
    assert fp8["scheme"] == "FP8_DYNAMIC" and "calibration" not in fp8, "fp8-dynamic is data-free"
    assert w4["scheme"] == "W4A16" and w4["calibration_path"] is None and len(w4["calibration"]) == 64
    assert fp8["ignore"][0] == w4["ignore"][0] == "lm_head" and any("vision_tower" in name for name in fp8["ignore"])


def test_a_missing_extra_is_refused_by_the_preflight_in_its_own_words() -> None:
    for fmt in (Fp8DynamicFormat(), W4a16Format()):
        params = fmt.params({}, BASE)
        fmt.check(CHECKPOINT, BASE, params)
        fmt.preflight(CHECKPOINT, BASE, params, {"compressor": _Compressor(None)})
        with pytest.raises(UserInputError, match=r"^needs hubship\[vllm\]$"):
            fmt.preflight(CHECKPOINT, BASE, params, {"compressor": _Compressor("needs hubship[vllm]")})


def test_w4a16_refuses_a_layer_whose_columns_do_not_fill_its_groups() -> None:
    assert HIDDEN % GROUP_SIZE == 0 and indivisible_layer(BASE) is None
    odd = attrs.evolve(BASE, tensors=(*BASE.tensors, ("model.layers.1.mlp.extra_proj.weight", (HIDDEN, 576))))
    assert indivisible_layer(odd) == ("model.layers.1.mlp.extra_proj.weight", 576)
    vision = attrs.evolve(BASE, tensors=(*BASE.tensors, ("model.visual.blocks.0.attn.qkv.weight", (48, 16))))
    assert indivisible_layer(vision) is None, "the vision tower is not quantized"
    with pytest.raises(UserInputError, match=r"groups of 128 input columns, and model\.layers\.1\.mlp\.extra_proj\.weight has 576"):
        W4a16Format().check(CHECKPOINT, odd, W4a16Format().params({}, odd))
    Fp8DynamicFormat().check(CHECKPOINT, odd, Fp8DynamicFormat().params({}, odd))  # FP8 scales per channel: any shape


def test_sizes_fall_between_4_and_16_bits_and_the_card_serves_with_vllm() -> None:
    sixteen = merged_bytes(BASE, "bf16")
    fp8 = Fp8DynamicFormat().estimate(CHECKPOINT, BASE, {"scheme": "FP8_DYNAMIC"}).size_bytes
    w4 = W4a16Format().estimate(CHECKPOINT, BASE, {"scheme": "W4A16"}).size_bytes
    assert w4 < fp8 < sixteen
    assert "vllm serve me/model-FP8" in Fp8DynamicFormat().usage("me/model-FP8")
