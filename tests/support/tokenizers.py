"""Tokenizer files as trainers leave them, edited for a test."""

from __future__ import annotations

import json
from pathlib import Path


def adds_bos(folder: Path) -> None:
    """Make the tokenizer in `folder` add `<s>` when encoding, as Llama and Mistral tokenizers' post-processors do."""
    data = json.loads((folder / "tokenizer.json").read_text())
    bos, text = {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [bos, text],
        "pair": [bos, text, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
    }
    (folder / "tokenizer.json").write_text(json.dumps(data))
