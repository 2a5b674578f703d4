"""The merged model's config.json: the base's, with the output dtype, untied embeddings, a grown vocabulary and the
checkpoint's stop tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubship.domain.checkpoint import Checkpoint

CONFIG_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def merged_config(raw: dict[str, Any], checkpoint: Checkpoint, dtype: str, untie: bool, vocab: int | None) -> dict[str, Any]:
    """A shallow copy of the base's config `raw` without its quantization_config (a text_config inside is changed in
    place) with `dtype` (bf16,
    fp16 or fp32) under the key(s) the base uses; tie_word_embeddings false when `untie`; vocab_size `vocab` when
    given (top level and text_config); and the bos, eos and pad token ids of the checkpoint's generation_config.json,
    when it has one."""
    config = {k: v for k, v in raw.items() if k != "quantization_config"}  # the merged weights are plain, never quantized
    for key in [k for k in ("dtype", "torch_dtype") if k in config] or ["dtype"]:
        config[key] = CONFIG_DTYPES[dtype]
    nested = [config, *(config[k] for k in ("text_config",) if isinstance(config.get(k), dict))]
    for part in nested:
        if untie and (part is config or "tie_word_embeddings" in part):
            part["tie_word_embeddings"] = False
        if vocab and "vocab_size" in part:
            part["vocab_size"] = vocab
    if checkpoint.generation_config:  # the stop tokens the model was trained with
        generation = json.loads((Path(checkpoint.root) / checkpoint.generation_config).read_text())
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if generation.get(key) is not None:
                config[key] = generation[key]
    return config
