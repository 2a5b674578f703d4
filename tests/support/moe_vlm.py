"""Tiny random MoE and vision-language models in their families' real config shapes, with a LoRA as trainers leave it.

Each family is built with transformers' own config class (2 layers, the real module tree) and saved by
transformers 5, which writes the checkpoint layout the Hub has: one tensor per expert, Mixtral's
`block_sparse_moe.*`, a vision-language model's text layers as `model.layers.*`. The LoRA is peft 0.21's on the
targets trainers use: on the MoE families, gate/up/down (w1/w2/w3 for Mixtral; DeepSeek-V3's multi-head latent
attention projections, and its dense first layer and shared expert, which stay modules; gpt-oss, whose files
store its experts fused and (experts, in, out), by `target_parameters` as peft documents it), which peft turns into
`target_parameters` on the fused experts; on the vision-language model, the language model's projections (the
vision tower is not trained). Its weights are random (`init_lora_weights=False`), as after training. The tokenizer
is the demo's SentencePiece one (a stand-in: these families' real tokenizers are not needed for the merge and the
logits); the vision-language model also gets its processor (`preprocessor_config.json`, the processor's chat
template) as a trainer saves it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FAMILIES = ("qwen3_moe", "mixtral", "deepseek_v3", "gpt_oss", "qwen2_5_vl")
CHAT_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
_ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
TARGETS = {
    "qwen3_moe": [*_ATTENTION, "gate_proj", "up_proj", "down_proj"],
    "mixtral": [*_ATTENTION, "w1", "w2", "w3"],
    "gpt_oss": _ATTENTION,  # and its experts by parameter, as peft's docs show for gpt-oss (TARGET_PARAMETERS)
    "deepseek_v3": ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2_5_vl": r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
}
TARGET_PARAMETERS = {"gpt_oss": ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]}
PROCESSOR_FILES = ("preprocessor_config.json",)


def _config(family: str, vocab: int, bos: int | None = 1, eos: int = 2) -> Any:
    from transformers import DeepseekV3Config, GptOssConfig, MixtralConfig, Qwen2_5_VLConfig, Qwen3MoeConfig

    text = {
        "vocab_size": vocab,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "tie_word_embeddings": False,
    }
    if family == "qwen3_moe":
        return Qwen3MoeConfig(**text, head_dim=16, intermediate_size=128, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2)
    if family == "mixtral":
        return MixtralConfig(**text, head_dim=16, intermediate_size=32, num_local_experts=4, num_experts_per_tok=2)
    if family == "gpt_oss":  # experts stored fused and (experts, in, out) on disk too; attention sinks, sliding layers
        return GptOssConfig(**text, head_dim=16, intermediate_size=32, num_local_experts=4, num_experts_per_tok=2, sliding_window=8)
    if family == "deepseek_v3":  # multi-head latent attention; layer 0 dense, layer 1 MoE with a shared expert
        # every Linear 64 wide or more on its input and a multiple of 32 on its output, as in the real model (the
        # latent ranks 1536 and 512 + 64): bitsandbytes' CPU 4-bit kernel packs by blocks of those and fails otherwise
        mla = {"q_lora_rank": 64, "kv_lora_rank": 64, "qk_rope_head_dim": 32, "qk_nope_head_dim": 32, "v_head_dim": 32}
        moe = {"moe_intermediate_size": 64, "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2}
        text = {**text, "num_key_value_heads": text["num_attention_heads"]}  # as DeepSeek-V3's own (llama.cpp assumes it)
        return DeepseekV3Config(**text, **mla, **moe, intermediate_size=128, first_k_dense_replace=1, n_group=1, topk_group=1)
    vision = {
        "depth": 4,  # llama.cpp maps the merger's `mlp.2` by block index: a tower of fewer than 3 blocks does not convert
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 4,
        "out_hidden_size": 64,
        "fullatt_block_indexes": [1, 3],
        "window_size": 28,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    rope = {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0}
    return Qwen2_5_VLConfig(text_config={**text, "intermediate_size": 128, "rope_parameters": rope}, vision_config=vision)


def _model_class(family: str) -> Any:
    from transformers import (
        DeepseekV3ForCausalLM,
        GptOssForCausalLM,
        MixtralForCausalLM,
        Qwen2_5_VLForConditionalGeneration,
        Qwen3MoeForCausalLM,
    )

    classes = {"qwen3_moe": Qwen3MoeForCausalLM, "mixtral": MixtralForCausalLM, "deepseek_v3": DeepseekV3ForCausalLM}
    classes["gpt_oss"] = GptOssForCausalLM
    return classes.get(family, Qwen2_5_VLForConditionalGeneration)


PREPROCESSOR = {  # what Qwen2VLImageProcessor saves (it needs torchvision and PIL, which the tests do without)
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_processor_type": "Qwen2VLImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "merge_size": 2,
    "patch_size": 14,
    "processor_class": "Qwen2_5_VLProcessor",
    "rescale_factor": 0.00392156862745098,
    "size": {"longest_edge": 50176, "shortest_edge": 3136},
    "temporal_patch_size": 2,
}


def _processor(folder: Path, template: str | None = None) -> None:
    """The vision-language model's processor files as a trainer saves them into `folder`: the image processor's
    settings and the processor's chat template (transformers 5 writes it as chat_template.jinja)."""
    from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE

    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=2) + "\n")
    (folder / "chat_template.jinja").write_text(template or CHAT_TEMPLATE)


def build(family: str, root: Path, *, seed: int = 0, tokenizer: Any = None) -> tuple[Path, Path]:
    """(base_dir, checkpoint_dir) of a tiny random `family` model (one of FAMILIES) and a LoRA on its usual targets.
    `tokenizer` (with its chat template) replaces the demo's SentencePiece stand-in (tests/support/moe_chat.py)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import GenerationConfig

    from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE, _save_tokenizer, _tokenizer

    base_dir, ckpt_dir = root / "base", root / "checkpoint"
    torch.manual_seed(seed)
    stand_in = tokenizer is None
    tokenizer = _tokenizer(base_dir, CHAT_TOKENS) if stand_in else tokenizer
    bos, eos = (1, 2) if stand_in else (tokenizer.bos_token_id, tokenizer.eos_token_id)
    model = _model_class(family)(_config(family, len(tokenizer), bos, eos)).eval()
    with torch.no_grad():  # the router and experts of a random tiny model: spread out, so every expert is used
        for name, param in model.named_parameters():
            if ".experts." in name or name.endswith("mlp.gate.weight"):
                param.normal_(0.0, 0.2)
    model.save_pretrained(base_dir)
    template = tokenizer.chat_template
    if stand_in:
        tokenizer.chat_template = None
        _save_tokenizer(tokenizer, base_dir, CHAT_TOKENS)
    else:
        tokenizer.save_pretrained(base_dir)
    GenerationConfig(bos_token_id=bos, eos_token_id=eos).save_pretrained(base_dir)
    if family == "qwen2_5_vl":
        _processor(base_dir)
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=TARGETS[family],
        target_parameters=TARGET_PARAMETERS.get(family),
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora)
    peft_model.save_pretrained(ckpt_dir)
    config_path = ckpt_dir / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "base_model_name_or_path": str(base_dir.resolve())}, indent=2))
    if stand_in:
        tokenizer.chat_template = CHAT_TEMPLATE
        _save_tokenizer(tokenizer, ckpt_dir, CHAT_TOKENS)
    else:
        tokenizer.chat_template = template
        tokenizer.save_pretrained(ckpt_dir)
    if (base_dir / "tokenizer.model").is_file():  # a SentencePiece tokenizer, as transformers 4 saved it
        (ckpt_dir / "tokenizer.model").write_bytes((base_dir / "tokenizer.model").read_bytes())
    GenerationConfig(bos_token_id=bos, eos_token_id=eos, max_new_tokens=16).save_pretrained(ckpt_dir)
    if family == "qwen2_5_vl":
        _processor(ckpt_dir, None if stand_in else template)
    return base_dir, ckpt_dir


def peft_logits(base: Path, ckpt: Path, ids: Any) -> Any:
    """The truth: base + adapter run unmerged by peft, as in training."""
    import torch
    from peft import PeftModel
    from transformers import AutoConfig

    from hubship.adapters.torch.meta_model import model_class

    model = model_class(AutoConfig.from_pretrained(base)).from_pretrained(base, dtype=torch.float32)
    peft_model = PeftModel.from_pretrained(model, ckpt).eval()
    with torch.no_grad():
        return peft_model(input_ids=ids[None]).logits[0]


def model_logits(folder: Path, ids: Any) -> Any:
    """A model folder's logits, loaded by transformers as a user loads it."""
    import torch
    from transformers import AutoConfig

    from hubship.adapters.torch.meta_model import model_class

    model = model_class(AutoConfig.from_pretrained(folder)).from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(input_ids=ids[None]).logits[0]


def per_expert_adapter(base: Path, like: Path, out: Path, *, rank: int = 4, seed: int = 1) -> Path:
    """An adapter as peft saved it with transformers 4, whose experts were modules: a LoRA pair on each expert's
    projection (`...experts.N.gate_proj.lora_A.weight`, Mixtral's `...block_sparse_moe.experts.N.w1...`), named as
    the base's files name them, random as after training; the rest (tokenizer, template) copied from `like`."""
    import re
    import shutil

    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    shutil.copytree(like, out)
    torch.manual_seed(seed)
    tensors, names = {}, set()
    with safe_open(str(base / "model.safetensors"), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (a safetensors handle)
            found = re.match(r"(.+\.experts\.\d+\.(\w+))\.weight$", key)
            if found:
                rows, cols = f.get_slice(key).get_shape()
                tensors[f"base_model.model.{found[1]}.lora_A.weight"] = torch.randn(rank, cols) * 0.1
                tensors[f"base_model.model.{found[1]}.lora_B.weight"] = torch.randn(rows, rank) * 0.1
                names.add(found[2])
    save_file(tensors, str(out / "adapter_model.safetensors"))
    config = json.loads((out / "adapter_config.json").read_text())
    config.update(r=rank, lora_alpha=2 * rank, target_modules=sorted(names), target_parameters=None, rank_pattern={}, alpha_pattern={})
    (out / "adapter_config.json").write_text(json.dumps({**config, "peft_version": "0.17.1"}, indent=2))
    return out
