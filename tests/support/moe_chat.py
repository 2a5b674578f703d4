"""The MoE and vision-language families with the tokenizer and chat template a user's checkpoint has, for the GGUF and Ollama publishes,
whose chat proof runs the template and the runtime's tokenizer (tests/support/moe_vlm.py builds the models).

Tokenizers come from llama.cpp's vocab-only GGUFs, as in tests/support/families.py: Qwen3-MoE's is Qwen2's
byte-level BPE vocabulary (the one Qwen3 ships); Mixtral's is Llama 2's SentencePiece vocabulary, the kind Mixtral
ships. llama.cpp ships no gpt-oss (o200k) or DeepSeek-V3 vocabulary: both get Qwen2's as a named stand-in (a
byte-level BPE that llama.cpp's converter recognizes, as it recognizes theirs), with their own special tokens added.
Qwen2.5-VL's is Qwen2's with its vision tokens. Templates are the families' own, from llama.cpp's collection
(Mixtral's: Mistral v0.2's from tests/data; Qwen2.5-VL's: Qwen2.5's, the text turns its processor template writes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import moe_vlm
from tests.support.families import FAMILIES, Family, tokenizer

_BPE_STAND_IN = "stand-in: llama.cpp ships no {} vocabulary; Qwen2's byte-level BPE, with the family's special tokens added"
VISION = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
HARMONY = ("<|startoftext|>", "<|return|>", "<|constrain|>", "<|channel|>", "<|start|>", "<|end|>", "<|message|>", "<|call|>")
DEEPSEEK = (
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁calls▁end｜>",
    "<｜tool▁call▁begin｜>",
    "<｜tool▁call▁end｜>",
    "<｜tool▁outputs▁begin｜>",
    "<｜tool▁outputs▁end｜>",
    "<｜tool▁output▁begin｜>",
    "<｜tool▁output▁end｜>",
    "<｜tool▁sep｜>",
)


def _family(name: str, template: str, **extra: Any) -> Family:
    return Family(
        name=name,
        title=name,
        config=lambda vocab: None,
        vocab="qwen2",
        template=template,
        targets=(),
        tokenizer_class="Qwen2Tokenizer",
        byte_level=True,
        **extra,
    )


CHAT: dict[str, Family] = {
    "qwen3_moe": _family("qwen3_moe", "Qwen-Qwen3-0.6B", eos="<|im_end|>", tokenizer_note="llama.cpp's qwen2 vocabulary (Qwen3's)"),
    "mixtral": FAMILIES["mistral"],
    "qwen2_5_vl": _family(
        "qwen2_5_vl",
        "Qwen-Qwen2.5-7B-Instruct",
        eos="<|im_end|>",
        added=VISION,
        tokenizer_note="llama.cpp's qwen2 vocabulary (Qwen2.5-VL's)",
    ),
    "gpt_oss": _family(
        "gpt_oss", "openai-gpt-oss-120b", eos="<|return|>", added=HARMONY, tokenizer_note=_BPE_STAND_IN.format("gpt-oss (o200k)")
    ),
    "deepseek_v3": _family(
        "deepseek_v3",
        "deepseek-ai-DeepSeek-V3.1",
        eos="<｜end▁of▁sentence｜>",
        bos="<｜begin▁of▁sentence｜>",
        added=DEEPSEEK,
        tokenizer_note=_BPE_STAND_IN.format("DeepSeek-V3"),
    ),
}


def build_chat(family: str, root: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """(base, checkpoint) of `family` (a key of CHAT) with its tokenizer and chat template."""
    spec = CHAT[family]
    made = tokenizer(spec, root / "base")
    if spec.byte_level:  # families.tokenizer builds a byte-level BPE without BOS; these name theirs (or none)
        made.eos_token = spec.eos
        if spec.bos != "<s>":
            made.bos_token = spec.bos
    return moe_vlm.build(family, root, seed=seed, tokenizer=made)
