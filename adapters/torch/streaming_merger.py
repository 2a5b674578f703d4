"""Merger that streams: base tensors are read one at a time, merged in fp32, cast once, and written to output shards.

Peak memory is a few copies of the largest tensor (plus a 16 MB copy buffer), whatever the model's
size: tensors are read with plain file reads (no mapping that would leave a whole shard resident),
and each output shard's header is planned before its first byte is written, so a shard never has
to be held in memory. Every file is written under a temporary name and renamed only once every
shard, the index and config.json are complete.

Semantics are peft's, as the adapter runs unmerged in training: W + scaling * B @ A (transposed
with fan_in_fan_out), scaling = alpha / r or alpha / sqrt(r) (rsLoRA), r and alpha per module from
rank_pattern / alpha_pattern, DoRA's magnitude rescaling, embedding LoRA, lora_bias, and full
tensors saved in the adapter (modules_to_save, saved embedding layers, grown vocabularies). When a
model ties its input and output embeddings and the adapter changes either, the two are written
separately (tie_word_embeddings false), each as peft computes it, so neither is left stale. An adapter named after
transformers 5's modules in memory (renamed modules, LoRAs on fused MoE experts through peft's target_parameters) is
placed on the tensors the base's files store, by transformers' own conversion mapping (merge.fused): the merged
model keeps the base's file layout, one tensor per expert where the base has them.

A base quantized with bitsandbytes (QLoRA) is merged onto its weights as bitsandbytes dequantizes them, one
tensor at a time, in fp32 (bnb_weights): what the adapter was trained on; the merged config has no
quantization_config. A full fine-tune (no adapter) goes through the same path with nothing to add: its weights
copied, cast to `dtype` and re-sharded.

The parts live in `hubship.adapters.torch.merge`: safetensors_reader, lora, fused, model_facts, plan,
tensor_math, merged_config and shard_writer. Design: docs/adr/003.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hubship.adapters.torch.merge.fused import place
from hubship.adapters.torch.merge.lora import adapter_parts
from hubship.adapters.torch.merge.merged_config import merged_config
from hubship.adapters.torch.merge.model_facts import model_facts
from hubship.adapters.torch.merge.plan import base_tensors, plan_outputs, shard_plan
from hubship.adapters.torch.merge.safetensors_reader import read_header
from hubship.adapters.torch.merge.shard_writer import INDEX_FILE, index_json, named_shards, write_model
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.ports.progress import Progress

OUT_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


class StreamingMerger:
    """`facts_cache`: where what the merge learns from the base's modules is kept between publishes (model_facts)."""

    def __init__(self, facts_cache: Path | None = None) -> None:
        self._facts_cache = facts_cache

    def merge(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        out_dir: Path,
        *,
        dtype: str | None,
        max_shard_bytes: int,
        progress: Progress,
    ) -> None:
        """Write base + adapter, merged as peft runs it unmerged (a full fine-tune: its own weights), into `out_dir`
        in `dtype` (default: the base's): safetensors shards of at most `max_shard_bytes` (an index when there are
        several) and config.json. Either every file appears or none; bad input is a UserInputError, a failed write
        a PublishError."""
        out_dtype = dtype or base.dtype
        base_dir = Path(base.path)
        tensors = base_tensors(base_dir, base.weight_files, base.quantization.bits if base.quantization else None)
        adapter = read_header(Path(checkpoint.root) / checkpoint.adapter_weights, "the adapter") if checkpoint.adapter_weights else {}
        facts = model_facts(base_dir, self._facts_cache)
        config = dict(checkpoint.adapter_config)
        loras, replaced = adapter_parts(config, adapter, facts.transposed)
        loras, replaced, shares = place(loras, replaced, set(tensors), base_dir, config, checkpoint.base.display)
        outputs, untie, vocab = plan_outputs(
            tensors, loras, replaced, facts.tied, facts.embeddings, OUT_DTYPES[out_dtype], base_name=checkpoint.base.display, shares=shares
        )
        shards = named_shards(shard_plan(outputs, max_shard_bytes))
        files = {INDEX_FILE: index_json(shards)} if len(shards) > 1 else {}
        merged = merged_config(facts.config, checkpoint, out_dtype, untie, vocab)
        files["config.json"] = (json.dumps(merged, indent=2, sort_keys=True) + "\n").encode()
        write_model(out_dir, shards, files, progress)
