"""The transformers configs of the tiny family models (tests/support/families.py): 2 layers, each family's real shape."""

from __future__ import annotations

from typing import Any

# the tiny shape every family shares: 2 layers, 4 query heads over 2 key/value heads
_SMALL = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}


def gemma2(vocab: int) -> Any:
    from transformers import Gemma2Config

    return Gemma2Config(
        vocab_size=vocab,
        **_SMALL,
        head_dim=16,
        sliding_window=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )


def phi3(vocab: int) -> Any:
    from transformers import Phi3Config

    return Phi3Config(
        vocab_size=vocab,
        **{**_SMALL, "num_key_value_heads": 4},
        original_max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=32000,
        pad_token_id=32000,
        tie_word_embeddings=False,
    )


def mistral(vocab: int) -> Any:
    from transformers import MistralConfig

    return MistralConfig(
        vocab_size=vocab,
        **_SMALL,
        head_dim=16,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=False,
    )


def qwen35(vocab: int) -> Any:
    from transformers import Qwen3_5TextConfig

    return Qwen3_5TextConfig(
        vocab_size=vocab,
        **_SMALL,
        layer_types=["linear_attention", "full_attention"],
        head_dim=16,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        # Qwen3.5's own rope (interleaved M-RoPE on a quarter of each head), its sections scaled to the tiny head:
        # llama.cpp asserts they fit the rotated dimensions
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10_000_000.0,
            "partial_rotary_factor": 0.25,
            "mrope_section": [1, 1, 0],
            "mrope_interleaved": True,
        },
        eos_token_id=151645,
        pad_token_id=151643,
        tie_word_embeddings=False,
    )



def llama3(vocab: int) -> Any:
    from transformers import LlamaConfig

    rope = {"rope_type": "llama3", "rope_theta": 500_000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
    rope["original_max_position_embeddings"] = 512
    return LlamaConfig(
        vocab_size=vocab, **_SMALL, head_dim=16, rope_parameters=rope, bos_token_id=128000, eos_token_id=128009, tie_word_embeddings=False
    )


def qwen25(vocab: int) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab, **_SMALL, rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, eos_token_id=151645)


def qwen3(vocab: int) -> Any:
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=vocab, **_SMALL, head_dim=16, eos_token_id=151645, tie_word_embeddings=True)


def gemma3(vocab: int) -> Any:
    from transformers import Gemma3TextConfig

    return Gemma3TextConfig(
        vocab_size=vocab,
        **_SMALL,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )


def gemma4(vocab: int) -> Any:
    from transformers import Gemma4TextConfig

    return Gemma4TextConfig(
        vocab_size=vocab,
        vocab_size_per_layer_input=vocab,
        **_SMALL,
        head_dim=16,
        global_head_dim=32,
        hidden_size_per_layer_input=0,
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        final_logit_softcapping=30.0,
        bos_token_id=2,
        eos_token_id=106,
        pad_token_id=0,
    )


def smollm3(vocab: int) -> Any:
    from transformers import SmolLM3Config

    return SmolLM3Config(vocab_size=vocab, **_SMALL, bos_token_id=128000, eos_token_id=128012, pad_token_id=128004)


def granite(vocab: int) -> Any:
    from transformers import GraniteConfig

    return GraniteConfig(
        vocab_size=vocab,
        **_SMALL,
        embedding_multiplier=12.0,
        logits_scaling=8.0,
        initializer_range=0.2,  # at 0.02 a 64-wide model's logits, scaled down 8x, are near uniform: no LoRA moves them
        residual_multiplier=0.22,
        attention_multiplier=0.015625,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
        tie_word_embeddings=True,
    )


def olmo2(vocab: int) -> Any:
    from transformers import Olmo2Config

    return Olmo2Config(vocab_size=vocab, **_SMALL, bos_token_id=None, eos_token_id=0, pad_token_id=1, tie_word_embeddings=False)
