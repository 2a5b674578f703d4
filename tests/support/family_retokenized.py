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
    if name == "deepseek_v3":  # DeepSeek-V3's config has as many KV heads as heads (128); llama.cpp's converter splits
        # kv_b_proj by them, and asserts against moe_vlm's shared 2 (transformers sizes it by the heads either way)
        model.config.num_key_value_heads = model.config.num_attention_heads
    model.save_pretrained(base)
    tok.save_pretrained(base)
    tok.save_pretrained(checkpoint)
    (checkpoint / "tokenizer.model").unlink(missing_ok=True)  # transformers 5 saves none
    return base, checkpoint, family


GEMMA3_VLM = attrs.evolve(
    FAMILIES["gemma3"],
    name="gemma3_vl",
    title="Gemma 3 VLM",
    added=("<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"),
)
GEMMA3_PREPROCESSOR = {  # what Gemma3ImageProcessor saves, at the tiny vision tower's image size
    "do_convert_rgb": None,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "Gemma3ImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "processor_class": "Gemma3Processor",
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 56, "width": 56},
}


def build_gemma3_vlm(root: Path, *, seed: int = 0) -> tuple[Path, Path, Family]:
    """(base, checkpoint, tokenizer spec) of a tiny Gemma3ForConditionalGeneration (a 2-layer SigLIP tower, Gemma 3's
    text model) with a LoRA on the language model, its processor files beside the tokenizer, as a trainer saves it."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, SiglipVisionConfig

    from tests.support.family_configs import gemma3
    from tests.support.gemma3_vlm import hub_layout

    base, checkpoint = root / "base", root / "checkpoint"
    torch.manual_seed(seed)
    tok = tokenizer(GEMMA3_VLM, base)
    vision = SiglipVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=56, patch_size=14
    )
    special = {
        f"{key}_index": tok.convert_tokens_to_ids(t) for key, t in (("boi_token", "<start_of_image>"), ("eoi_token", "<end_of_image>"))
    }
    config = Gemma3Config(
        text_config=gemma3(len(tok)).to_dict(),
        vision_config=vision.to_dict(),
        mm_tokens_per_image=4,
        image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"),
        **special,
    )
    config.architectures = ["Gemma3ForConditionalGeneration"]
    Gemma3ForConditionalGeneration(config).save_pretrained(base)
    hub_layout(base / "model.safetensors")  # as a user's base is downloaded: `vision_tower.vision_model.*`
    tok.save_pretrained(base)
    lora = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(Gemma3ForConditionalGeneration.from_pretrained(base, dtype=torch.float32), lora).save_pretrained(checkpoint)
    adapter = json.loads((checkpoint / "adapter_config.json").read_text())
    (checkpoint / "adapter_config.json").write_text(json.dumps({**adapter, "base_model_name_or_path": str(base.resolve())}, indent=2))
    tok.save_pretrained(checkpoint)
    (checkpoint / "tokenizer.model").unlink(missing_ok=True)  # transformers 5 saves none
    for folder in (base, checkpoint):
        (folder / "preprocessor_config.json").write_text(json.dumps(GEMMA3_PREPROCESSOR, indent=2) + "\n")
    return base, checkpoint, GEMMA3_VLM
