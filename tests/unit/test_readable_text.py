"""The pure rules behind what people read: typo suggestions, the quality table and verdict, the quality gate's
ways out, and llama.cpp's per-tensor types (against what llama.cpp made of the tiny demo model)."""

from __future__ import annotations

import pytest

from hubship.domain.artifact_sizes import gguf_bytes
from hubship.domain.gguf_types import tensor_type
from hubship.domain.quality_gate import gate_message, higher_bit_format
from hubship.domain.quality_table import markdown_table, quality_rows, summary_phrase, verdict
from hubship.domain.suggest import closest

TINY = [  # the tiny demo Llama: hidden 128, 2 layers, 2 KV heads of 4, vocab 320
    ("lm_head.weight", (320, 128)),
    ("model.embed_tokens.weight", (320, 128)),
    ("model.norm.weight", (128,)),
    *[
        (f"model.layers.{i}.{name}", shape)
        for i in range(2)
        for name, shape in (
            ("input_layernorm.weight", (128,)),
            ("post_attention_layernorm.weight", (128,)),
            ("self_attn.q_proj.weight", (128, 128)),
            ("self_attn.k_proj.weight", (64, 128)),
            ("self_attn.v_proj.weight", (64, 128)),
            ("self_attn.o_proj.weight", (128, 128)),
            ("mlp.gate_proj.weight", (256, 128)),
            ("mlp.up_proj.weight", (256, 128)),
            ("mlp.down_proj.weight", (128, 256)),
        )
    ],
]


@pytest.mark.parametrize(
    ("typed", "meant"), [("gguf-q4km", "gguf-q4_k_m"), ("GGUF_Q8_0", "gguf-q8_0"), ("stf", "sft"), ("merged16bit", "merged-16bit")]
)
def test_closest_finds_what_was_meant(typed, meant):
    assert closest(typed, ("lora", "merged-16bit", "gguf-q4_k_m", "gguf-q8_0", "sft", "kto")) == meant


def test_nothing_close_suggests_nothing():
    assert closest("s3", ("dir", "hf", "ollama")) is None


def test_q4_k_m_types_match_what_llama_cpp_made_of_the_tiny_model():
    def kind(name: str, layer: int, row: int) -> str:
        return tensor_type("Q4_K_M", name, row, layer=layer, n_layers=2, gqa=2, has_output=True)

    assert kind("output", 0, 128) == "Q8_0"  # Q6_K wanted, but 128 is not a multiple of 256
    assert kind("token_embd", 0, 128) == "Q5_0"  # Q4_K's fallback
    assert (kind("attn_v", 0, 128), kind("attn_v", 1, 128)) == ("Q5_0", "Q8_0")  # layer 1 gets more bits
    assert (kind("ffn_down", 0, 256), kind("ffn_down", 1, 256)) == ("Q4_K", "Q6_K")  # rows of 256: no fallback
    assert kind("norm", 0, 128) == "F32"


def test_gguf_sizes_of_the_tiny_model_are_its_tensor_bytes_plus_metadata():
    tensors_q8, tensors_q4 = 402_944, 280_320  # what llama.cpp wrote (tensor data only)
    metadata = 4096 + 32 * 320 + 96 * 21
    assert gguf_bytes(TINY, "Q8_0", vocab_size=320, tied=False) == tensors_q8 + metadata
    assert gguf_bytes(TINY, "Q4_K_M", vocab_size=320, tied=False) == tensors_q4 + metadata


def test_quality_rows_leave_out_file_facts_and_say_pass_or_fail():
    record = {
        "metrics": {"quantization": "Q4_K_M", "file_size_bytes": 1, "bits_per_weight": 5.9, "mean_kl": 0.2, "top1_agreement": 0.9},
        "thresholds": {"mean_kl": {"max": 0.12}},
    }
    rows = quality_rows(record)
    assert [(r.metric, r.bound, r.passed) for r in rows] == [("mean_kl", "≤ 0.12", False), ("top1_agreement", "", None)]
    assert (
        verdict(rows) == "**Verdict: below the quality threshold** — mean_kl 0.2 (threshold ≤ 0.12); published with --accept-quality-loss."
    )
    assert summary_phrase(rows) == "mean_kl 0.2 ≤ 0.12: FAIL"
    assert markdown_table(rows).splitlines()[2].endswith("| 0.2 | ≤ 0.12 | **FAIL** |")


def test_a_chat_proof_that_holds_reads_as_one_phrase_and_one_that_fails_keeps_its_counts():
    proof = {"chat_token_mismatches": {"max": 0}, "chat_end_of_turn_not_eog": {"max": 0}}
    held = quality_rows(
        {
            "metrics": {"mean_kl": 0.01, "chat_token_mismatches": 0, "chat_end_of_turn_not_eog": 0},
            "thresholds": {"mean_kl": {"max": 0.12}, **proof},
        }
    )
    assert summary_phrase(held) == "mean_kl 0.01 ≤ 0.12, chat format proven: pass"
    assert verdict(held) == "**Verdict: pass** — mean_kl within its threshold; chat format proven."
    broken = quality_rows(
        {
            "metrics": {"mean_kl": 0.01, "chat_token_mismatches": 2, "chat_end_of_turn_not_eog": 0},
            "thresholds": {"mean_kl": {"max": 0.12}, **proof},
        }
    )
    assert summary_phrase(broken).endswith(": FAIL") and "chat_token_mismatches 2 ≤ 0" in summary_phrase(broken)
    assert "chat format proven" not in summary_phrase(broken)
    assert "chat_token_mismatches 2 (threshold ≤ 0)" in verdict(broken)


def test_the_gate_names_a_higher_bit_format_a_threshold_that_passes_and_accept_quality_loss():
    failed = {"gguf-q2_k": {"metrics": {"mean_kl": 1.52}, "thresholds": {"mean_kl": {"max": 1.0}}}}
    assert gate_message(failed, {"gguf-q2_k": {}}) == (
        "quality gate failed, nothing was published (gguf-q2_k: mean_kl=1.52 > 1); publish a higher-bit format (gguf-q3_k_m),"
        " set a looser threshold (--threshold gguf-q2_k.mean_kl=1.6), or pass --accept-quality-loss to publish anyway"
    )
    assert higher_bit_format("merged-4bit", {}) == "merged-16bit"
    assert higher_bit_format("merged-16bit", {"dtype": "bf16"}) == "merged-16bit --dtype fp32"
    assert higher_bit_format("merged-16bit", {"dtype": "fp32"}) is None
    assert higher_bit_format("gguf-q4_k_s", {}) == "gguf-q4_k_m" and higher_bit_format("gguf-q8_0", {}) == "gguf-f16"
