"""Merger through peft's `merge_and_unload`: loads the whole model in memory.

Kept as the reference implementation; the streaming merger replaces it behind the same port.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.ports.progress import Progress

TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


class PeftMerger:
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
        torch_dtype = TORCH_DTYPES[dtype or base.dtype]
        with progress.task("merge (peft)", total=3, unit="steps") as task:
            try:
                model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
                task.advance()
                model = PeftModel.from_pretrained(model, checkpoint.root)
                merged = model.merge_and_unload()
            except (RuntimeError, ValueError, KeyError) as exc:
                raise UserInputError(
                    f"the adapter cannot be applied to base {checkpoint.base.display}: {str(exc).splitlines()[0]}"
                ) from None
            task.advance()
            try:
                merged.to(torch_dtype).save_pretrained(out_dir, safe_serialization=True, max_shard_size=max_shard_bytes)
            except OSError as exc:
                raise PublishError(f"writing the merged model failed: {exc.strerror or exc}") from None
            task.advance()
