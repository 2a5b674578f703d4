"""The fixed probe every verification runs: plain sentences in several languages and styles, then one chat turn."""

from __future__ import annotations

from typing import Any

import torch

from hubship.domain.probe import FULL_PROBE_TOKENS

MAX_PROBE_TOKENS = FULL_PROBE_TOKENS
PROBE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A merged model must give the same logits as the base model with its adapter.",
    "In 1969, Apollo 11 landed on the Moon; 384,400 km separate it from the Earth.",
    "def add(a, b):\n    return a + b  # a tiny function\n",
    "Le chat dort sur le canapé, et la pluie tombe doucement sur Paris.",
    "Fine-tuning adapts a pretrained network to a narrower task with little data.",
    "Prices rose 3.5% in March, while wages grew by only 1.2 percent.",
    "She asked whether the library opens at nine o'clock on Sundays.",
    'for i in range(10):\n    if i % 3 == 0:\n        print(f"{i} is divisible by three")\n',
    "Der schnelle braune Fuchs springt über den faulen Hund, und niemand weiß warum.",
    "El modelo ajustado responde en español cuando la pregunta llega en español.",
    "Water boils at 100 degrees Celsius at sea level, but at lower temperatures on a mountain.",
    "Please summarise the meeting notes in three bullet points and send them to the team by Friday.",
    "SELECT name, COUNT(*) FROM orders WHERE total > 250 GROUP BY name ORDER BY 2 DESC;",
    "The committee postponed its decision, citing incomplete data and a pending legal review.",
    "Once upon a time, in a village by the sea, there lived an old fisherman and his curious granddaughter.",
    "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen.",
    "Error: connection refused (errno 111); retrying in 5 seconds...",
)
PROBE_CHAT = (
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
    {"role": "assistant", "content": "Paris."},
)


FALLBACK_INPUTS: tuple[dict[str, Any], ...] = ({}, {"tools": []}, {"functions": "", "datetime": ""})
"""What a template may need beyond the conversation (application.chat_inputs): nothing, an empty list of tools (Hermes 2
Pro's `for tool in tools`), FireFunction's `functions` and `datetime`."""


def _chat_text(tokenizer: Any, chat_template: str) -> str:
    """The chat turn as the template renders it, with the first of FALLBACK_INPUTS it takes (the last one's error)."""
    for extra in FALLBACK_INPUTS[:-1]:
        try:
            return tokenizer.apply_chat_template(list(PROBE_CHAT), chat_template=chat_template, tokenize=False, **extra)
        except Exception:  # the template needs more than the conversation: try the next inputs
            continue
    return tokenizer.apply_chat_template(list(PROBE_CHAT), chat_template=chat_template, tokenize=False, **FALLBACK_INPUTS[-1])


def probe_ids(tokenizer: Any, chat_template: str | None, limit: int) -> torch.Tensor:
    """The fixed probe: plain sentences, then one chat turn rendered with the checkpoint's template (if any)."""
    text_ids = list(tokenizer("\n".join(PROBE_SENTENCES))["input_ids"])
    chat_ids: list[int] = []
    if chat_template:
        rendered = _chat_text(tokenizer, chat_template)
        chat_ids = list(tokenizer(rendered, add_special_tokens=False)["input_ids"])[: limit // 2]
    return torch.tensor(text_ids[: limit - len(chat_ids)] + chat_ids, dtype=torch.int64)
