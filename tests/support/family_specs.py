"""The dense model families of issue 24 as the tests build them (tests/support/families.py): each family's config
shape (family_configs.py), its tokenizer (a llama.cpp vocab-only GGUF, `models/ggml-vocab-<vocab>.gguf`, and the
turn tokens added to it), its chat template, and the modules trainers put a LoRA on. Where llama.cpp ships no
vocabulary of the family, a named stand-in is used and `tokenizer_note` says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from tests.support import family_configs

_ATTENTION_MLP = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
QWEN_ADDED = (  # Qwen2.5's added tokens after <|im_end|>, in id order (151646...); Qwen3 adds four more
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
)  # fmt: skip
LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


@attrs.frozen(kw_only=True)
class Family:
    """One model family: its config, its tokenizer (a llama.cpp vocab and the turn tokens added to it), its chat
    template, its LoRA targets."""

    name: str
    title: str  # as the matrix and the docs name it
    config: Callable[[int], Any]  # vocab size -> a transformers config
    vocab: str  # models/ggml-vocab-<vocab>.gguf
    template: str  # models/templates/<template>.jinja, else tests/data/chat_templates/<template>.jinja
    targets: tuple[str, ...] = _ATTENTION_MLP
    tokenizer_class: str = "TokenizersBackend"
    added: tuple[str, ...] = ()  # special tokens appended to the vocabulary, in id order
    add_dummy_prefix: bool = True
    bos: str | None = "<s>"
    eos: str = "</s>"
    tokenizer_note: str = ""  # says so where the tokenizer is a stand-in
    vocab_size: int | None = None  # the embedding rows, where the family pads them past the tokenizer (Phi-3: 32064)
    byte_level: bool = False  # a byte-level BPE vocabulary (with merges), not SentencePiece
    # the pre-tokenizer of a byte-level family built without a class of its own: "llama3", "gpt2", "digits"
    pre_tokenizer: str | None = None
    adds_bos: bool = False  # the byte-level tokenizer puts `bos` in front (Llama 3's post-processor)
    renamed: tuple[tuple[int, str], ...] = ()  # vocabulary ids the family gives a name of its own (SmolLM3's turn tokens)
    # the family's own SentencePiece model, a member of the mistral-common wheel `make setup` downloads
    # (tests/support/mistral_common_data.py), in place of a llama.cpp vocabulary
    mistral_common: str | None = None


_GEMMA_SPM = (
    "stand-in: llama.cpp ships no Gemma 2/3 vocabulary; Llama 2's SentencePiece model without the space prefix,"
    " and Gemma's turn tokens added"
)
FAMILIES: dict[str, Family] = {
    "llama3": Family(
        name="llama3", title="Llama 3.x", config=family_configs.llama3, vocab="llama-bpe",
        template="meta-llama-Llama-3.2-3B-Instruct", byte_level=True, pre_tokenizer="llama3", adds_bos=True,
        bos="<|begin_of_text|>", eos="<|eot_id|>",
    ),
    "qwen25": Family(
        name="qwen25", title="Qwen2.5", config=family_configs.qwen25, vocab="qwen2", template="Qwen-Qwen2.5-7B-Instruct",
        tokenizer_class="Qwen2Tokenizer", byte_level=True, bos=None, eos="<|im_end|>", added=QWEN_ADDED, vocab_size=151936,
    ),
    "qwen3": Family(
        name="qwen3", title="Qwen3", config=family_configs.qwen3, vocab="qwen2", template="Qwen-Qwen3-0.6B",
        tokenizer_class="Qwen2Tokenizer", byte_level=True, bos=None, eos="<|im_end|>", vocab_size=151936,
        added=(*QWEN_ADDED, "<tool_response>", "</tool_response>", "<think>", "</think>"),
    ),
    "qwen35": Family(
        name="qwen35", title="Qwen3.5", config=family_configs.qwen35, vocab="qwen35", template="Qwen3.5-4B",
        targets=(*_ATTENTION_MLP, "in_proj_qkv", "in_proj_z", "out_proj"), tokenizer_class="Qwen3_5Tokenizer",
        byte_level=True, bos=None, eos="<|im_end|>", vocab_size=151936,
        tokenizer_note="llama.cpp's qwen35 test vocabulary: Qwen2's 151,643 pieces and merges, Qwen3.5's pre-tokenizer",
    ),
    "gemma2": Family(
        name="gemma2", title="Gemma 2", config=family_configs.gemma2, vocab="llama-spm", template="google-gemma-2-2b-it",
        tokenizer_class="GemmaTokenizer", added=("<start_of_turn>", "<end_of_turn>"), add_dummy_prefix=False,
        tokenizer_note=_GEMMA_SPM,
    ),
    "gemma3": Family(
        name="gemma3", title="Gemma 3 (text)", config=family_configs.gemma3, vocab="llama-spm", template="gemma-3",
        tokenizer_class="GemmaTokenizer", added=("<start_of_turn>", "<end_of_turn>"), add_dummy_prefix=False,
        tokenizer_note=_GEMMA_SPM,
    ),
    "gemma4": Family(
        name="gemma4", title="Gemma 4", config=family_configs.gemma4, vocab="gemma-4", template="google-gemma-4-31B-it",
        tokenizer_class="GemmaTokenizer", byte_level=True, bos="<bos>", eos="<turn|>", adds_bos=True,
    ),
    "mistral": Family(
        name="mistral", title="Mistral v0.2", config=family_configs.mistral, vocab="llama-spm",
        template="mistral-v0.2",  # tests/data/chat_templates: llama.cpp's collection has no v0.1/v0.2 template
        tokenizer_class="LlamaTokenizer",
        mistral_common="tokenizer.model.v1",  # Mistral 7B v0.1's and v0.2's tokenizer.model, as mistral-common ships it
    ),
    "phi3": Family(
        name="phi3", title="Phi-3", config=family_configs.phi3, vocab="phi-3", template="microsoft-Phi-3.5-mini-instruct",
        targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj"), tokenizer_class="LlamaTokenizer",
        eos="<|endoftext|>", vocab_size=32064,
    ),
    "smollm3": Family(
        name="smollm3", title="SmolLM3", config=family_configs.smollm3, vocab="llama-bpe",
        template="HuggingFaceTB-SmolLM3-3B", byte_level=True, pre_tokenizer="llama3", adds_bos=True,
        bos="<|begin_of_text|>", eos="<|im_end|>",
        renamed=((128002, "<think>"), (128003, "</think>"), (128011, "<|im_start|>"), (128012, "<|im_end|>")),
    ),
    "granite": Family(
        name="granite", title="Granite 3", config=family_configs.granite, vocab="refact",
        template="ibm-granite-granite-3.3-2B-Instruct", byte_level=True, pre_tokenizer="digits", bos="<|end_of_text|>",
        eos="<|end_of_text|>", renamed=((0, "<|end_of_text|>"),),
        added=("<|start_of_role|>", "<|end_of_role|>", "<|tool_call|>"),
        tokenizer_note=(
            "stand-in: Refact's 49,152-piece BPE vocabulary (the pre-tokenizer llama.cpp gives Granite 3),"
            " Granite's role tokens added"
        ),
    ),
    "olmo2": Family(
        name="olmo2", title="OLMo 2", config=family_configs.olmo2, vocab="gpt-neox", template="olmo-2",
        byte_level=True, pre_tokenizer="gpt2", bos="<|endoftext|>", eos="<|endoftext|>",
        tokenizer_note="stand-in: GPT-NeoX's BPE vocabulary (OLMo 1's; llama.cpp ships none of OLMo 2's dolma2)",
    ),
}  # fmt: skip
