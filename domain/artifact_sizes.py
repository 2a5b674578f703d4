"""How big each artifact's files will be, from the base's tensor shapes, before anything is built.

- safetensors: every tensor at the output dtype, plus a JSON header (~100 bytes a tensor);
- bitsandbytes 4-bit: every linear layer's matrix at 4 bits with an fp32 scale per 64 weights (one byte
  and a second-level table with double quantization), the embeddings and the head left at the dtype;
- GGUF: each tensor at the type llama.cpp's quantizer gives it (domain.gguf_types), norms in F32, plus the
  metadata (mostly the vocabulary: about 32 bytes a token with its score, type and merges).
Pure: the shapes come from the base's safetensors headers (BaseInfo.tensors).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hubship.domain.gguf_types import kind_of, layer_of, tensor_bytes, tensor_type

Tensors = Iterable[tuple[str, tuple[int, ...]]]
SAFETENSORS_HEADER_PER_TENSOR = 100
GGUF_FIXED_METADATA = 4096
GGUF_METADATA_PER_TOKEN = 32
GGUF_PER_TENSOR = 96  # its name, shape, type and offset in the header, and the alignment padding
BNB_BLOCK = 64
BNB_NESTED_BLOCK = 256
BNB_PER_LAYER = 64 + 200  # the 16-value code table (fp32) and the quant_state JSON of each quantized matrix
BNB_NESTED_PER_LAYER = 256 * 4 + 4  # double quantization: the second-level code table and its offset


def elements(shape: tuple[int, ...]) -> int:
    return math.prod(shape) if shape else 1


def safetensors_bytes(tensors: Tensors, dtype_bytes: int) -> int:
    """The weights of a model saved as safetensors at `dtype_bytes` a weight (shards add little)."""
    items = list(tensors)
    return sum(elements(s) * dtype_bytes for _, s in items) + SAFETENSORS_HEADER_PER_TENSOR * len(items)


def bnb4_bytes(tensors: Tensors, dtype_bytes: int, double_quant: bool) -> int:
    """The weights of a model quantized to 4 bits by bitsandbytes (nf4 or fp4; the same size)."""
    total = 0
    for name, shape in tensors:
        kind = kind_of(name, shape)
        count = elements(shape)
        if kind in ("norm", "token_embd", "output"):  # not nn.Linear, or the head transformers keeps whole
            total += count * dtype_bytes + SAFETENSORS_HEADER_PER_TENSOR
            continue
        blocks = -(-count // BNB_BLOCK)
        scales = blocks + 4 * -(-blocks // BNB_NESTED_BLOCK) + BNB_NESTED_PER_LAYER if double_quant else 4 * blocks
        total += count // 2 + scales + BNB_PER_LAYER + 3 * SAFETENSORS_HEADER_PER_TENSOR
    return total


def gguf_bytes(tensors: Tensors, ftype: str, *, vocab_size: int | None, tied: bool) -> int:
    """A GGUF of the model at llama.cpp file type `ftype` (F32, F16, BF16, Q8_0, Q4_K_M, ...).

    A tied head is not written (llama.cpp reads the embedding twice), so the embedding takes the head's type.
    """
    items = [(name, shape) for name, shape in tensors if not (tied and kind_of(name, shape) == "output")]
    kinds = [kind_of(name, shape) for name, shape in items]
    n_layers = max(kinds.count("attn_v"), kinds.count("ffn_down"), kinds.count("attn_qkv"), 1)
    shapes = {kind: shape for kind, (_, shape) in zip(kinds, items, strict=True)}
    gqa = shapes["attn_q"][0] // shapes["attn_k"][0] if "attn_q" in shapes and "attn_k" in shapes and shapes["attn_k"][0] else 1
    has_output = "output" in kinds
    total = GGUF_FIXED_METADATA + GGUF_METADATA_PER_TOKEN * (vocab_size or 0)
    for (name, shape), kind in zip(items, kinds, strict=True):
        if ftype == "F32":
            ggml = "F32"
        else:
            ggml = tensor_type(ftype, kind, shape[-1], layer=layer_of(name), n_layers=n_layers, gqa=gqa, has_output=has_output)
        total += tensor_bytes(ggml, elements(shape)) + GGUF_PER_TENSOR
    return total
