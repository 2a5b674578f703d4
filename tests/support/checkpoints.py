"""Real checkpoints as trainers leave them, built on CPU in seconds from the tiny fp32 Llama (tests/conftest.py):

- a 16-bit base quantized with bitsandbytes and saved (`quantize`: nf4, nf4 with double quant, int8, nf4 with
  modules left unquantized), its README naming the upstream model as Unsloth's 4-bit repos do;
- a QLoRA run (`train_qlora`): a LoRA trained a few real steps on that 4-bit base with peft
  (`prepare_model_for_kbit_training`) by the HF Trainer, as TRL's SFTTrainer runs it: `checkpoint-N/` folders
  and the final adapter at the root;
- a full fine-tune run (`train_full`): every weight trained a few steps by the HF Trainer with an evaluation at each
  save (so trainer_state.json records `best_model_checkpoint`), `checkpoint-N/` folders, the final model at the
  root, a Trainer-written model card and `training_args.bin` (a pickle hubship must never read nor publish).

The fixtures in tests/conftest.py build each once per session.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

UPSTREAM = "acme/tiny-llama"  # the 16-bit model every checkpoint here derives from (tests/support/hub_fixtures.BASE_REPO)
QUANTIZED_REPO = "acme/tiny-llama-bnb-4bit"
TOKENIZER = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")
TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, this is a tiny model trained for tests.",
    "A merged model must give the same logits as the base with its adapter.",
    "<|im_start|>user\nWhat is two plus two?<|im_end|>\n<|im_start|>assistant\nFour.<|im_end|>",
)
UNSLOTH_README = """---
base_model: {upstream}
library_name: transformers
license: apache-2.0
tags:
- unsloth
- bitsandbytes
---

# {name}

{upstream} quantized to 4 bits with bitsandbytes.
"""


def variants() -> dict[str, dict[str, Any]]:
    """BitsAndBytesConfig arguments of each quantized base."""
    import torch

    four = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": torch.float32}
    return {
        "nf4": four,
        "nf4-dq": {**four, "bnb_4bit_use_double_quant": True},
        "int8": {"load_in_8bit": True},
        "nf4-skip": {**four, "llm_int8_skip_modules": ["down_proj", "lm_head"]},
    }


def quantize(source: Path, out: Path, variant: str) -> Path:
    """`source` (a 16-bit model folder) loaded with bitsandbytes `variant` on CPU and saved into `out`, with the
    tokenizer and a README naming UPSTREAM."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    settings = BitsAndBytesConfig(**variants()[variant])
    model = AutoModelForCausalLM.from_pretrained(source, quantization_config=settings, device_map="cpu", dtype=torch.float32)
    model.save_pretrained(out)
    for name in (*TOKENIZER, "generation_config.json"):
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)
    (out / "README.md").write_text(UNSLOTH_README.format(upstream=UPSTREAM, name=out.name))
    return out


def _dataset(tokenizer: Any) -> Any:
    import torch

    rows = [tokenizer(text)["input_ids"] for text in TEXTS * 4]

    class Rows(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(rows)

        def __getitem__(self, i: int) -> dict[str, Any]:
            ids = torch.tensor(rows[i])
            return {"input_ids": ids, "labels": ids.clone()}

    return Rows()


def _arguments(out: Path, **extra: Any) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        str(out),
        max_steps=4,
        save_steps=2,
        per_device_train_batch_size=1,
        learning_rate=1e-2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        **extra,
    )


def train_qlora(base: Path, tokenizer_from: Path, out: Path, **lora: Any) -> Path:
    """A QLoRA run into `out`: the quantized `base` prepared for k-bit training, a LoRA on every linear layer trained
    4 steps (saved at 2 and 4, then at the root), the checkpoint's tokenizer and chat template from `tokenizer_from`."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, default_data_collator

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    model = AutoModelForCausalLM.from_pretrained(base, device_map="cpu", dtype=torch.float32)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM", **lora))
    data = _dataset(tokenizer)
    trainer = Trainer(
        model=model, args=_arguments(out), train_dataset=data, processing_class=tokenizer, data_collator=default_data_collator
    )
    trainer.train()
    trainer.save_model(str(out))
    trainer.save_state()
    return out


def train_full(base: Path, tokenizer_from: Path, out: Path) -> Path:
    """A full fine-tune run into `out`: every weight of `base` trained 4 steps, evaluated and saved at 2 and 4 (so
    the best checkpoint is recorded), the final model at the root with a Trainer-written model card."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, default_data_collator

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    data = _dataset(tokenizer)
    arguments = _arguments(  # "greater is better" makes the earlier checkpoint the best: best and last differ
        out, eval_strategy="steps", eval_steps=2, metric_for_best_model="eval_loss", greater_is_better=True, per_device_eval_batch_size=1
    )
    trainer = Trainer(
        model=model, args=arguments, train_dataset=data, eval_dataset=data, processing_class=tokenizer, data_collator=default_data_collator
    )
    trainer.train()
    trainer.save_model(str(out))
    trainer.save_state()
    trainer.create_model_card(model_name=out.name, finetuned_from=UPSTREAM)
    keep_sentencepiece_tokenizer(tokenizer_from, out)
    return out


def keep_sentencepiece_tokenizer(source: Path, out: Path) -> None:
    """Put `source`'s own SentencePiece tokenizer files back into the run's root.

    transformers 5 re-saves this tokenizer as tokenizer.json alone, without tokenizer.model and the `legacy` flag; a
    GGUF converted from that prefixes a space after BOS that training never saw, and hubship's chat proof refuses it
    (tests/integration/test_full_and_run_folders.py shows that refusal). A user fixes it this way; the fixture does
    too, so the other tests see a full fine-tune whose chat format converts."""
    for name in TOKENIZER:
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)


def without_root_model(run: Path, dest: Path) -> Path:
    """A copy of the run folder `run` holding only its `checkpoint-N/` folders and trainer_state.json (a run killed
    before its final save)."""
    dest.mkdir(parents=True)
    for entry in run.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, dest / entry.name)
    shutil.copyfile(run / "trainer_state.json", dest / "trainer_state.json")
    return dest


def in_hf_cache(folder: Path, cache: Path, repo_id: str, revision: str = "0" * 40) -> Path:
    """`folder` laid out as the Hugging Face cache holds a downloaded repo (`models--OWNER--NAME/snapshots/REV`,
    refs/main naming REV) under `cache`; returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def point_adapter_at(checkpoint: Path, base: str) -> None:
    """Make the adapter_config.json of `checkpoint` name `base` (a path or a hub id), as a trainer would have."""
    config_path = checkpoint / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = base
    config_path.write_text(json.dumps(config, indent=2))


def build_all(root: Path, tiny_base: Path, tiny_checkpoint: Path) -> dict[str, Path]:
    """Every checkpoint above under `root`: bases `base-<variant>`, QLoRA runs `qlora-<variant>`, the full run."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    made: dict[str, Path] = {}
    for variant in variants():
        made[f"base-{variant}"] = quantize(tiny_base, root / f"base-{variant}", variant)
        made[f"qlora-{variant}"] = train_qlora(made[f"base-{variant}"], tiny_checkpoint, root / f"qlora-{variant}")
    made["full"] = train_full(tiny_base, tiny_checkpoint, root / "full-run")
    return made
