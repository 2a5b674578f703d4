"""The MoE and vision-language models of tests/support/moe_vlm.py given their families' tokenizers and chat templates,
for the family matrix (tests/benchmarks/bench_families.py).

moe_vlm.py builds them with the demo's SentencePiece tokenizer, which serves the merge and logits tests. llama.cpp's
converter reads Qwen3-MoE, gpt-oss, DeepSeek-V3 and Qwen2.5-VL with a BPE tokenizer whose pre-tokenizer it knows,
and refuses that stand-in, so a matrix of GGUF publishes needs the family's own tokenizer (tests/support/family_specs
.py), or a named BPE stand-in where llama.cpp ships none (gpt-oss's o200k, DeepSeek-V3's). The model's embeddings
are resized to it; the LoRA, on attention and experts, stays as built.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from tests.support import moe_vlm
from tests.support.families import tokenizer
from tests.support.family_specs import FAMILIES, Family

_QWEN2_STAND_IN = "stand-in: Qwen2's BPE vocabulary (llama.cpp ships no {} vocabulary), the family's special tokens added"
_DEEPSEEK = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>")
TOKENIZERS: dict[str, Family] = {
    "qwen3_moe": attrs.evolve(FAMILIES["qwen3"], name="qwen3_moe", title="Qwen3-MoE"),
    "mixtral": attrs.evolve(FAMILIES["mistral"], name="mixtral", title="Mixtral"),
    "gpt_oss": attrs.evolve(
        FAMILIES["qwen25"],
        name="gpt_oss",
        title="gpt-oss",
        template="openai-gpt-oss-120b",
        eos="<|return|>",
        added=("<|start|>", "<|channel|>", "<|message|>", "<|end|>", "<|return|>", "<|call|>", "<|constrain|>"),
        tokenizer_note=_QWEN2_STAND_IN.format("gpt-oss (o200k)"),
    ),
    "deepseek_v3": attrs.evolve(
        FAMILIES["qwen25"],
        name="deepseek_v3",
        title="DeepSeek-V3",
        template="deepseek-ai-DeepSeek-V3.1",
        bos=_DEEPSEEK[0],
        eos=_DEEPSEEK[1],
        added=_DEEPSEEK,
        tokenizer_note=_QWEN2_STAND_IN.format("DeepSeek-V3"),
    ),
    "qwen2_5_vl": attrs.evolve(FAMILIES["qwen25"], name="qwen2_5_vl", title="Qwen2.5-VL"),
}


def build(name: str, root: Path) -> tuple[Path, Path, Family]:
    """(base, checkpoint, tokenizer spec) of moe_vlm's `name` with the family's tokenizer and chat template: the base
    with `tokenizer.model` where the family is SentencePiece, the checkpoint as transformers 5 saves it (without)."""
    import torch
    from transformers import AutoConfig

    from hubship.adapters.torch.meta_model import model_class

    family = TOKENIZERS[name]
    base, checkpoint = moe_vlm.build(name, root)
    for folder in (base, checkpoint):
        for old in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            (folder / old).unlink(missing_ok=True)
    tok = tokenizer(family, base)  # a SentencePiece family's tokenizer.model is written into the base
    model = model_class(AutoConfig.from_pretrained(base)).from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(1)
    model.resize_token_embeddings(family.vocab_size or len(tok), mean_resizing=False)
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.eos_token_id}
    for config in {id(c): c for c in (model.config, model.config.get_text_config(), model.generation_config)}.values():
        for key, value in ids.items():
            setattr(config, key, value)
    model.save_pretrained(base)
    tok.save_pretrained(base)
    tok.save_pretrained(checkpoint)
    (checkpoint / "tokenizer.model").unlink(missing_ok=True)  # transformers 5 saves none
    return base, checkpoint, family
