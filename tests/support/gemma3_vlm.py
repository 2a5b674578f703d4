"""A tiny random Gemma 3 vision-language model (`Gemma3ForConditionalGeneration`: a SigLIP vision tower, a projector,
Gemma 3's text model) in the Hub's file layout, with a LoRA on the language model as trainers leave it.

transformers 5 saves the vision tower as `vision_tower.*`, where Gemma 3's checkpoints on the Hub (and llama.cpp's
converter) have `vision_tower.vision_model.*`; transformers reads both. The base is written in the Hub's layout, as
a user's base is downloaded. The tokenizer is the demo's SentencePiece stand-in with Gemma 3's image tokens added.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.moe_vlm import CHAT_TOKENS, PREPROCESSOR

IMAGE_TOKENS = ("<start_of_image>", "<image_soft_token>", "<end_of_image>")
TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def hub_layout(weights: Path) -> None:
    """Rewrite `weights` with the vision tower under `vision_tower.vision_model.*`, as Gemma 3's Hub checkpoints have it."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    renamed = {
        (f"vision_tower.vision_model.{k.removeprefix('vision_tower.')}" if k.startswith("vision_tower.") else k): v
        for k, v in tensors.items()
    }
    save_file(renamed, str(weights), metadata={"format": "pt"})


def build(root: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """(base_dir, checkpoint_dir) of the tiny Gemma 3 under `root`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, GenerationConfig

    from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE, _save_tokenizer, _tokenizer

    base, ckpt = root / "base", root / "checkpoint"
    torch.manual_seed(seed)
    tokens = (*CHAT_TOKENS, *IMAGE_TOKENS)
    tok = _tokenizer(base, tokens)
    text = {"vocab_size": len(tok), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4}
    text |= {
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 512,
        "sliding_window": 16,
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 56,
        "patch_size": 14,
    }
    ids = dict(zip(("boi_token_index", "image_token_index", "eoi_token_index"), tok.convert_tokens_to_ids(list(IMAGE_TOKENS)), strict=True))
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, tie_word_embeddings=True, **ids)
    model = Gemma3ForConditionalGeneration(config).eval()
    model.save_pretrained(base)
    hub_layout(base / "model.safetensors")
    tok.chat_template = None
    _save_tokenizer(tok, base, tokens)
    GenerationConfig(bos_token_id=1, eos_token_id=2).save_pretrained(base)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, lora).save_pretrained(ckpt)
    adapter = json.loads((ckpt / "adapter_config.json").read_text())
    (ckpt / "adapter_config.json").write_text(json.dumps({**adapter, "base_model_name_or_path": str(base.resolve())}, indent=2))
    tok.chat_template = CHAT_TEMPLATE
    _save_tokenizer(tok, ckpt, tokens)
    (ckpt / "tokenizer.model").write_bytes((base / "tokenizer.model").read_bytes())
    GenerationConfig(bos_token_id=1, eos_token_id=2).save_pretrained(ckpt)
    processor = {**PREPROCESSOR, "image_processor_type": "Gemma3ImageProcessor", "processor_class": "Gemma3Processor"}
    (ckpt / "preprocessor_config.json").write_text(json.dumps({**processor, "size": {"height": 56, "width": 56}}, indent=2) + "\n")
    return base, ckpt
