"""Which ggml type llama.cpp's quantizer gives each tensor, and what that costs in bytes.

A mirror of llama.cpp's `llama_tensor_get_type` (src/llama-quant.cpp) for the quantizations hubship
builds (no importance matrix, dense models): the output head (or the tied embedding) goes to Q6_K or
Q8_0, some attn_v / ffn_down layers get more bits (`use_more_bits`), and a tensor whose rows are not a
multiple of the type's block falls back (Q4_K -> Q5_0, Q6_K -> Q8_0, ...). Sizes follow from ggml's block
sizes, so `plan` can say what a file will weigh before any of it is built. Pure.
"""

from __future__ import annotations

import re

# ggml type -> (weights per block, bytes per block)
BLOCKS = {
    "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2),
    "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22), "Q5_1": (32, 24), "Q8_0": (32, 34),
    "Q2_K": (256, 84), "Q3_K": (256, 110), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210),
    "IQ2_XXS": (256, 66), "IQ2_XS": (256, 74), "IQ2_S": (256, 82), "IQ3_XXS": (256, 98), "IQ3_S": (256, 110),
    "IQ1_S": (256, 50), "IQ1_M": (256, 56), "IQ4_NL": (32, 18), "IQ4_XS": (256, 136),
}  # fmt: skip
# llama.cpp file type (the quantization asked for) -> the default ggml type of its tensors
DEFAULT_TYPE = {
    "F16": "F16", "BF16": "BF16", "Q8_0": "Q8_0", "Q4_0": "Q4_0", "Q4_1": "Q4_1", "Q5_0": "Q5_0", "Q5_1": "Q5_1",
    "Q2_K": "Q2_K", "Q2_K_S": "Q2_K", "Q3_K_S": "Q3_K", "Q3_K_M": "Q3_K", "Q3_K_L": "Q3_K", "Q4_K_S": "Q4_K", "Q4_K_M": "Q4_K",
    "Q5_K_S": "Q5_K", "Q5_K_M": "Q5_K", "Q6_K": "Q6_K", "IQ3_XS": "IQ3_S", "IQ3_XXS": "IQ3_XXS", "IQ3_S": "IQ3_S",
    "IQ3_M": "IQ3_S", "IQ4_NL": "IQ4_NL", "IQ4_XS": "IQ4_XS", "IQ2_XXS": "IQ2_XXS", "IQ2_XS": "IQ2_XS", "IQ2_S": "IQ2_XS",
    "IQ2_M": "IQ2_S", "IQ1_S": "IQ1_S", "IQ1_M": "IQ1_M",
}  # fmt: skip
FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}  # the rest of the k- and i-quants fall back to IQ4_NL
UNQUANTIZED = ("F16", "BF16", "F32")
# a Hugging Face weight name's part -> llama.cpp's tensor kind (Llama, Mistral, Qwen, Gemma, Phi-3 and kin)
KINDS = (
    ("embed_tokens", "token_embd"), ("wte", "token_embd"), ("word_embeddings", "token_embd"), ("lm_head", "output"),
    ("qkv_proj", "attn_qkv"), ("query_key_value", "attn_qkv"), ("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v"),
    ("o_proj", "attn_output"), ("gate_up_proj", "ffn_up"), ("gate_proj", "ffn_gate"), ("up_proj", "ffn_up"), ("down_proj", "ffn_down"),
)  # fmt: skip
_LAYER = re.compile(r"\.(\d+)\.")


def kind_of(name: str, shape: tuple[int, ...]) -> str:
    """llama.cpp's kind of the Hugging Face tensor `name`: token_embd, output, attn_v, ffn_down, ..., `norm` for
    what stays F32 (norms, biases, any 1-d tensor), `other` for a matrix of no known kind."""
    if len(shape) < 2 or "norm" in name or not name.endswith("weight"):
        return "norm"
    return next((kind for part, kind in KINDS if part in name), "other")


def layer_of(name: str) -> int:
    found = _LAYER.search(name)
    return int(found.group(1)) if found else 0


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """llama.cpp's layers that get more bits in the _M quantizations: the first and last eighth, every third between."""
    return i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8 or (i_layer - n_layers // 8) % 3 == 2


def _attn_v(ftype: str, t: str, i: int, n: int, gqa: int) -> str:
    rules = {
        "Q2_K": "Q4_K" if gqa >= 4 else "Q3_K",
        "Q2_K_S": "Q4_K" if gqa >= 4 else t,
        "IQ3_XXS": "Q4_K" if gqa >= 4 else "IQ3_S",
        "IQ3_XS": "Q4_K" if gqa >= 4 else t,
        "IQ3_S": "Q4_K" if gqa >= 4 else t,
        "IQ3_M": "Q4_K",
        "Q3_K_M": "Q5_K" if i < 2 else "Q4_K",
        "Q3_K_L": "Q5_K",
        "IQ4_NL": "Q5_K" if gqa >= 4 else t,
        "IQ4_XS": "Q5_K" if gqa >= 4 else t,
        "Q4_K_M": "Q6_K" if use_more_bits(i, n) else t,
        "Q5_K_M": "Q6_K" if use_more_bits(i, n) else t,
        "Q4_K_S": "Q5_K" if i < 4 else t,
    }
    return rules.get(ftype, t)


def _ffn_down(ftype: str, t: str, i: int, n: int) -> str:
    rules = {
        "Q2_K": "Q3_K",
        "Q2_K_S": "Q4_K" if i < n // 8 else t,
        "IQ3_XXS": "Q4_K" if i < n // 8 else "Q3_K",
        "Q3_K_M": "Q5_K" if i < n // 16 else "Q4_K",
        "IQ3_M": "Q4_K" if i < n // 8 else t,
        "Q3_K_L": "Q5_K",
        "Q4_K_M": "Q6_K" if use_more_bits(i, n) else t,
        "IQ4_NL": "Q5_K" if i < n // 8 else t,
        "IQ4_XS": "Q5_K" if i < n // 8 else t,
        "Q5_K_M": "Q6_K" if use_more_bits(i, n) else t,
        "Q4_K_S": "Q5_K" if i < n // 8 else t,
    }
    return rules.get(ftype, t)


def tensor_type(ftype: str, kind: str, row: int, *, layer: int, n_layers: int, gqa: int, has_output: bool) -> str:
    """The ggml type of one tensor (`row`: its row length, ggml's ne[0]) in a `ftype` GGUF made from an F32/F16 one."""
    default = DEFAULT_TYPE[ftype]
    if kind == "norm" or default in UNQUANTIZED:
        return "F32" if kind == "norm" else default
    t = default
    if kind == "output" or (kind == "token_embd" and not has_output):
        t = "Q8_0" if row % BLOCKS[default][0] else (t if t == "Q8_0" else "Q6_K")
    elif kind == "token_embd":
        t = "IQ3_S" if ftype == "IQ3_XXS" else t
    elif kind == "attn_v":
        t = _attn_v(ftype, t, layer, n_layers, gqa)
    elif kind in ("attn_k", "attn_q"):
        t = {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(ftype, t)
    elif kind == "ffn_down":
        t = _ffn_down(ftype, t, layer, n_layers)
    elif kind == "attn_output":
        t = {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(ftype, t)
    elif kind == "attn_qkv":
        t = {"Q3_K_M": "Q4_K", "Q3_K_L": "Q4_K", "IQ3_M": "Q4_K", "Q4_K_M": "Q5_K", "Q5_K_M": "Q6_K"}.get(ftype, t)
    elif kind in ("ffn_gate", "ffn_up") and ftype == "IQ3_XS" and n_layers // 8 <= layer < 7 * n_layers // 8:
        t = "IQ3_XXS"
    if row % BLOCKS[t][0]:
        t = FALLBACK.get(t, "IQ4_NL" if BLOCKS[t][0] == 256 else t)
        t = "F16" if row % BLOCKS[t][0] else t
    return t


def tensor_bytes(ggml_type: str, count: int) -> int:
    """Bytes of `count` weights stored as `ggml_type`."""
    per_block, size = BLOCKS[ggml_type]
    return -(-count // per_block) * size
