"""The memory estimates `plan` prints, on a known shape: a 2-layer bf16 Llama (hidden 1024, 4 KV heads of 64,
MLP 4096, vocabulary 32000, untied) with an r=16 LoRA on every linear. Each expected figure is written out
from its terms (application/formats/memory.py), so a change of the model shows here as a changed number."""

from __future__ import annotations

import pytest

from hubship.application.formats.gguf_imatrix import GgufImatrixFormat
from hubship.application.formats.gguf_intermediate import GgufIntermediateFormat
from hubship.application.formats.gguf_quant import GgufQuantFormat
from hubship.application.formats.lora import LoraFormat
from hubship.application.formats.memory import (
    MB,
    RUNTIME,
    bnb_step_bytes,
    converter_step,
    forward_bytes,
    layer_bytes_fp32,
    logits_bytes,
    merge_bytes,
    quantize_bytes,
)
from hubship.application.formats.merged_4bit import Merged4bitFormat
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.application.formats.ollama import OllamaFormat
from hubship.application.formats.reference_logits import ReferenceLogitsFormat
from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint
from hubship.domain.gguf_quants import QUANTS

HIDDEN, KV, MLP, VOCAB = 1024, 256, 4096, 32_000
LAYER = {  # one decoder layer's weights
    "self_attn.q_proj.weight": (HIDDEN, HIDDEN),
    "self_attn.k_proj.weight": (KV, HIDDEN),
    "self_attn.v_proj.weight": (KV, HIDDEN),
    "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
    "mlp.gate_proj.weight": (MLP, HIDDEN),
    "mlp.up_proj.weight": (MLP, HIDDEN),
    "mlp.down_proj.weight": (HIDDEN, MLP),
    "input_layernorm.weight": (HIDDEN,),
    "post_attention_layernorm.weight": (HIDDEN,),
}
TENSORS = (
    ("model.embed_tokens.weight", (VOCAB, HIDDEN)),
    *((f"model.layers.{i}.{name}", shape) for i in range(2) for name, shape in LAYER.items()),
    ("model.norm.weight", (HIDDEN,)),
    ("lm_head.weight", (VOCAB, HIDDEN)),
)
LAYER_WEIGHTS = 2 * HIDDEN * HIDDEN + 2 * KV * HIDDEN + 3 * MLP * HIDDEN + 2 * HIDDEN
LAYER_0 = LAYER_WEIGHTS + HIDDEN  # what verification holds of a layer: the final norm has no layer number, so counts as 0's
PARAMS = 2 * VOCAB * HIDDEN + 2 * LAYER_WEIGHTS + HIDDEN
BASE = BaseInfo(
    path="/models/known",
    architecture="LlamaForCausalLM",
    model_type="llama",
    dtype="bf16",
    parameter_bytes=2 * PARAMS,
    weight_files=("model.safetensors",),
    vocab_size=VOCAB,
    largest_tensor_bytes=2 * VOCAB * HIDDEN,
    num_layers=2,
    tensors=TENSORS,
)
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_BYTES = 2 * 16 * (2 * (HIDDEN + HIDDEN) + 2 * (KV + HIDDEN) + 3 * (MLP + HIDDEN)) * 2  # r=16, bf16, 2 layers
CHECKPOINT = Checkpoint(
    root="/nonexistent/checkpoint",  # side files are measured on disk: none here
    base=BaseRef(path="/models/known"),
    adapter_config={"peft_type": "LORA", "r": 16, "lora_alpha": 32, "target_modules": TARGETS},
    adapter_weights="adapter_model.safetensors",
    adapter_bytes=ADAPTER_BYTES,
)
LOGITS = 2 * 256 * VOCAB * 4  # the probe's 256 tokens, reference and artifact, fp32
SAFETENSORS = 2 * PARAMS + 100 * len(TENSORS)  # the merged model's file: bf16 weights and a header per tensor


def test_the_terms_of_a_known_shape() -> None:
    assert logits_bytes(BASE) == LOGITS == 65_536_000
    assert layer_bytes_fp32(BASE) == 4 * LAYER_0 == 60_829_696  # in fp32, no embedding or head
    assert forward_bytes(BASE) == 4 * LAYER_0 + 16 * MB + LOGITS
    assert merge_bytes(CHECKPOINT, BASE) == 3 * 4 * MLP * HIDDEN + 16 * MB  # the MLP matrices: the biggest changed
    assert quantize_bytes(BASE) == 2 * 4 * VOCAB * HIDDEN  # the head in fp32, and an output buffer as big
    assert converter_step(BASE) == RUNTIME["converter"] + 2 * 4 * VOCAB * HIDDEN


def test_bitsandbytes_step_is_its_quantization_or_its_check_not_both() -> None:
    quantizing = 12 * SAFETENSORS // 10  # bitsandbytes' peak with large blocks mapped: 1.2 times the 16-bit model
    assert bnb_step_bytes(BASE, 10 * MB) == quantizing == 230_282_097
    checking = 10**9 + forward_bytes(BASE)
    assert bnb_step_bytes(BASE, 10**9) == checking  # a check bigger than the quantization counts alone


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (LoraFormat(), RUNTIME["files"]),  # the adapter is copied by the kernel, never read in
        (ReferenceLogitsFormat(), RUNTIME["torch"] + 4 * LAYER_0 + 16 * MB + LOGITS + ADAPTER_BYTES),
        (Merged16bitFormat(), RUNTIME["torch"] + 4 * LAYER_0 + 16 * MB + LOGITS),  # the check outweighs the merge
        (GgufIntermediateFormat(None), RUNTIME["converter"] + 8 * VOCAB * HIDDEN),  # type: ignore[arg-type]
    ],
)
def test_each_formats_estimate(builder: object, expected: int) -> None:
    params = builder.params({}, BASE)  # type: ignore[attr-defined]
    assert builder.estimate(CHECKPOINT, BASE, params).peak_memory_bytes == expected  # type: ignore[attr-defined]


def test_merged_4bit_s_estimate_here_is_its_check_which_outweighs_the_quantization() -> None:
    fmt = Merged4bitFormat()
    estimate = fmt.estimate(CHECKPOINT, BASE, fmt.params({}, BASE))
    assert estimate.size_bytes + forward_bytes(BASE) > 12 * SAFETENSORS // 10
    assert estimate.peak_memory_bytes == RUNTIME["torch"] + estimate.size_bytes + forward_bytes(BASE)


def test_the_imatrix_step_is_llama_imatrix_mapping_the_intermediate() -> None:
    imatrix = GgufImatrixFormat(None)  # type: ignore[arg-type]
    estimate = imatrix.estimate(CHECKPOINT, BASE, {})
    assert estimate.peak_memory_bytes == RUNTIME["tool"] + SAFETENSORS + 2 * 512 * VOCAB * 4  # the tool, not hubship's process


def test_the_ollama_files_are_made_in_a_process_holding_llama_cpp() -> None:
    """The Ollama step links the GGUF and writes small files, in a process that loaded llama.cpp for the chat proof."""
    assert OllamaFormat("Q4_K_M").estimate(CHECKPOINT, BASE, {}).peak_memory_bytes == RUNTIME["llama_cpp"]


def test_a_gguf_quantization_counts_the_quantizer_the_file_and_the_logits() -> None:
    q8 = GgufQuantFormat(next(q for q in QUANTS if q.name == "Q8_0"), None, with_reference=True)  # type: ignore[arg-type]
    estimate = q8.estimate(CHECKPOINT, BASE, q8.params({}, BASE))
    assert estimate.peak_memory_bytes == RUNTIME["llama_cpp"] + 8 * VOCAB * HIDDEN + estimate.size_bytes + LOGITS + 16 * MB
