"""A few steps of supervised fine-tuning that teach a tiny demo model to answer and end its turn.

The demo checkpoint's LoRA is random, so its model never ends a turn. `train_to_end_turns` replaces it by
a LoRA trained (seconds on a CPU) on chat examples rendered by the checkpoint's own template, loss on the
answer and the end-of-turn marker only, as SFT trainers do; the chat API then ends the turn by itself.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

ANSWER = "Sure."
CHATS = (
    [{"role": "user", "content": "Hello! What is 2+2?"}],
    [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Hello!"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ANSWER}, {"role": "user", "content": "Tell me a joke."}],
)


def _example(tokenizer, chat: list[dict[str, str]], answer: str) -> tuple[torch.Tensor, torch.Tensor]:
    def ids(messages: list[dict[str, str]], **mode: bool) -> list[int]:
        return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **mode)["input_ids"])

    prompt = ids(chat, add_generation_prompt=True)
    full = ids([*chat, {"role": "assistant", "content": answer}])
    assert full[: len(prompt)] == prompt, "the prompt must be a prefix of the full conversation"
    labels = [-100] * len(prompt) + full[len(prompt) :]
    return torch.tensor([full]), torch.tensor([labels])


def train_to_end_turns(base_dir: Path, checkpoint_dir: Path, steps: int = 40, seed: int = 0) -> float:
    """Overwrite the checkpoint's adapter with a LoRA trained to answer each of CHATS with ANSWER and end the
    turn; returns the last loss. lm_head is adapted too: the random base's logits are too flat to learn from."""
    torch.manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one core
    try:
        return _train(base_dir, checkpoint_dir, steps)
    finally:
        torch.set_num_threads(threads)


def _train(base_dir: Path, checkpoint_dir: Path, steps: int) -> float:
    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"]
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=targets, task_type="CAUSAL_LM"))
    batches = [_example(tokenizer, chat, ANSWER) for chat in CHATS]
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    model.train()
    for _ in range(steps):
        loss = sum(model(input_ids=ids, labels=labels).loss for ids, labels in batches) / len(batches)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(checkpoint_dir, safe_serialization=True)
    return float(loss.detach())
