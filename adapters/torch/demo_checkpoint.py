"""CheckpointFactory: a tiny but real Llama (SentencePiece tokenizer) and a trained-looking PEFT LoRA checkpoint.

Everything is built locally and deterministically from a seed, in seconds: no download. The
tests and `hubship demo` use the same factory.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("GLOG_minloglevel", "2")

import sentencepiece as spm
import torch
from peft import LoraConfig, get_peft_model
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, this is a tiny model trained for tests.",
    "Fine tuning publishes models to the hub, to ollama and to a local folder.",
    "A merged model must give the same logits as the base with its adapter.",
    "<|im_start|>user\nWhat is two plus two?<|im_end|>\n<|im_start|>assistant\nFour.<|im_end|>",
]
TRL_README = """---
base_model: {base}
library_name: peft
tags:
- base_model:adapter:{base}
- lora
- {method}
- transformers
- trl
---

# Model Card for demo-adapter

This model is a fine-tuned version of {base}. It has been trained using [TRL](https://github.com/huggingface/trl).

### Training procedure

This model was trained with {method_upper}.
"""


def _tokenizer(out: Path, chat_tokens: tuple[str, ...] = (), corpus: Sequence[str] | None = None, vocab_size: int = 320) -> LlamaTokenizer:
    """A SentencePiece BPE tokenizer trained on `corpus` (default CORPUS); `chat_tokens` become single pieces
    (user-defined symbols)."""
    out.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus or CORPUS * 40),
        model_prefix=str(out / "tokenizer"),
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        byte_fallback=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
        num_threads=1,
        user_defined_symbols=list(chat_tokens),
    )
    (out / "tokenizer.vocab").unlink(missing_ok=True)
    tokenizer = LlamaTokenizer.from_pretrained(str(out), legacy=True)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _save_tokenizer(tokenizer: LlamaTokenizer, folder: Path, chat_tokens: tuple[str, ...]) -> None:
    """Save it as a legacy SentencePiece tokenizer (a space piece after special tokens, as llama.cpp's SPM
    tokenizer does): transformers does not write `legacy` itself and would load it back as non-legacy. The
    chat tokens are listed in `added_tokens_decoder` as special, as transformers 4 wrote them (and as
    llama.cpp's converter reads them: it types SentencePiece's own user-defined pieces as normal text)."""
    tokenizer.save_pretrained(folder)
    config_file = folder / "tokenizer_config.json"
    config = {**json.loads(config_file.read_text()), "legacy": True}
    if chat_tokens:
        ids = tokenizer.convert_tokens_to_ids(list(chat_tokens))
        flags = {"lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        config["added_tokens_decoder"] = {str(i): {"content": t, **flags} for i, t in zip(ids, chat_tokens, strict=True)}
    config_file.write_text(json.dumps(config, indent=2) + "\n")


class HfDemoCheckpointFactory:
    def create(
        self,
        root: Path,
        *,
        dtype: str = "bfloat16",
        tie_word_embeddings: bool = False,
        method: str = "sft",
        lora: Mapping[str, Any] | None = None,
        hidden_size: int = 128,
        layers: int = 2,
        seed: int = 0,
        added_tokens: int = 0,
        chat_tokens: tuple[str, ...] = (),
        corpus: Sequence[str] | None = None,
        vocab_size: int = 320,
    ) -> tuple[Path, Path]:
        """`chat_tokens` (e.g. `<|im_start|>`, `<|im_end|>`) are made single tokens of the vocabulary, as a
        chat model's turn markers are. The tokenizer is trained on `corpus` (default: a few sentences) up to
        `vocab_size` pieces (fewer when the corpus runs out of merges); benchmarks pass a real-size vocabulary."""
        base_dir, ckpt_dir = Path(root) / "base", Path(root) / "checkpoint"
        torch.manual_seed(seed)
        tokenizer = _tokenizer(base_dir, chat_tokens, corpus, vocab_size)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            tie_word_embeddings=tie_word_embeddings,
            bos_token_id=1,
            eos_token_id=2,
        )
        model = LlamaForCausalLM(config).to(getattr(torch, dtype))
        model.save_pretrained(base_dir, safe_serialization=True)
        tokenizer.chat_template = None
        _save_tokenizer(tokenizer, base_dir, chat_tokens)
        GenerationConfig(bos_token_id=1, eos_token_id=2, max_new_tokens=32).save_pretrained(base_dir)
        (base_dir / "README.md").write_text("---\nlicense: apache-2.0\n---\n\n# tiny-llama (demo base)\n")

        lora_config = LoraConfig(
            **{
                "r": 8,
                "lora_alpha": 16,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                "init_lora_weights": False,  # random A and B: a non-zero delta, as after training
                "task_type": "CAUSAL_LM",
                **dict(lora or {}),
            }
        )
        trained = LlamaForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
        if added_tokens:  # the trainer grew the vocabulary: new rows in embed_tokens (and lm_head), saved in the adapter
            tokenizer.add_tokens([f"<extra_{i}>" for i in range(added_tokens)])
            trained.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        peft_model = get_peft_model(trained, lora_config)
        if added_tokens:  # the new rows were "trained": make them differ from any initial value
            for param in (peft_model.get_input_embeddings().weight, peft_model.get_output_embeddings().weight):
                with torch.no_grad():
                    param[-added_tokens:] = torch.randn_like(param[-added_tokens:]) * 0.02
        peft_model.save_pretrained(ckpt_dir, safe_serialization=True, save_embedding_layers=bool(added_tokens) or "auto")
        config_path = ckpt_dir / "adapter_config.json"
        adapter_config = json.loads(config_path.read_text())
        adapter_config["base_model_name_or_path"] = str(base_dir.resolve())
        config_path.write_text(json.dumps(adapter_config, indent=2))
        tokenizer.chat_template = CHAT_TEMPLATE
        _save_tokenizer(tokenizer, ckpt_dir, chat_tokens)
        shutil.copyfile(base_dir / "tokenizer.model", ckpt_dir / "tokenizer.model")
        GenerationConfig(bos_token_id=1, eos_token_id=2, max_new_tokens=64, temperature=0.7, do_sample=True).save_pretrained(ckpt_dir)
        (ckpt_dir / "trainer_state.json").write_text(json.dumps({"global_step": 10, "epoch": 1.0, "log_history": []}))
        (ckpt_dir / "README.md").write_text(TRL_README.format(base="tiny-llama", method=method, method_upper=method.upper()))
        return base_dir, ckpt_dir
