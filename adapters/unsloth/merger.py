"""Merger through Unsloth, for people who train with it on an NVIDIA GPU.

`FastLanguageModel.from_pretrained` loads the base with the adapter on the GPU, and Unsloth's own
merged save (`save_pretrained_merged(..., save_method="merged_16bit")`) writes the merged model.
Unsloth is imported only when a merge runs: importing it needs a GPU and patches transformers.

Unsloth's merged save turns `safe_serialization=True` into pickled `.bin` files (torch.save) on machines
with 2 or fewer CPUs; only `safe_serialization=None` makes it write safetensors on every machine. So the
save is asked with None, and its output is checked before anything continues (`check_safetensors`): a
pickle, or no safetensors at all, is a PublishError and the build's staging folder is thrown away.
Untested on a GPU here (docs/adr/007-config-and-backends.md); tests/gpu runs it where a GPU is.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubship.domain.backend import unsloth_gap
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.secrets import SNIFF_BYTES, is_pickle
from hubship.ports.progress import Progress

SIXTEEN_BIT = {"bf16": "bfloat16", "fp16": "float16"}
NOT_PUBLISHED = ("README.md",)  # hubship writes the card itself


def _unsloth() -> tuple[Any, Any]:
    try:
        import torch
        from unsloth import FastLanguageModel
    except (ImportError, NotImplementedError, RuntimeError) as exc:  # unsloth raises NotImplementedError without a GPU
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(
            f"the unsloth backend cannot start ({first}); pip install 'hubship[unsloth]' on a GPU machine or use --backend hf"
        ) from None
    return torch, FastLanguageModel


def _adapter_copy(checkpoint: Checkpoint, base: BaseInfo, folder: Path) -> Path:
    """The adapter, with its config pointing at the resolved base folder (so --base is honoured)."""
    folder.mkdir(parents=True)
    config = {**checkpoint.adapter_config, "base_model_name_or_path": base.path}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    for name in (checkpoint.adapter_weights, *checkpoint.tokenizer_files):
        src = Path(checkpoint.root) / name
        try:
            os.link(src, folder / name)
        except OSError:
            shutil.copyfile(src, folder / name)
    return folder


def check_safetensors(out_dir: Path) -> None:
    """Refuse a merged save holding a pickle, or no safetensors weights: a PublishError naming the files."""
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    pickled = []
    for path in files:
        with path.open("rb") as fh:
            if is_pickle(path.name, fh.read(SNIFF_BYTES)):
                pickled.append(path.relative_to(out_dir).as_posix())
    if pickled:
        raise PublishError(
            f"the unsloth merge wrote pickled weights ({', '.join(pickled)}), not safetensors; nothing is published from it;"
            " re-run with --backend hf"
        )
    if not any(p.suffix == ".safetensors" for p in files):
        raise PublishError("the unsloth merge wrote no .safetensors weights; nothing is published from it; re-run with --backend hf")


class UnslothMerger:
    """`library` returns (torch, FastLanguageModel); the default imports them when a merge runs."""

    def __init__(self, max_seq_length: int = 2048, library: Callable[[], tuple[Any, Any]] = _unsloth) -> None:
        self._max_seq_length = max_seq_length
        self._library = library

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
        target = dtype or base.dtype
        gap = unsloth_gap(full=checkpoint.is_full, quantized_base=base.quantization is not None, dtype=target)
        if gap is not None:  # the plan sends these to hf (domain/backend.py): reaching here is a wiring bug, said plainly
            raise UserInputError(f"the unsloth backend does not merge {gap} the way hubship verifies it; pass --backend hf")
        torch, fast_model = self._library()
        with (
            tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=".unsloth-") as tmp,
            progress.task("merge (unsloth)", 2, "steps") as task,
        ):
            adapter = _adapter_copy(checkpoint, base, Path(tmp) / "adapter")
            try:
                model, tokenizer = fast_model.from_pretrained(
                    model_name=str(adapter),
                    max_seq_length=self._max_seq_length,
                    dtype=getattr(torch, SIXTEEN_BIT[target]),
                    load_in_4bit=False,
                )
                task.advance()
                model.save_pretrained_merged(
                    str(out_dir),
                    tokenizer,
                    save_method="merged_16bit",
                    max_shard_size=max_shard_bytes,
                    safe_serialization=None,  # None, not True: True means pickles on machines with <= 2 CPUs
                    temporary_location=str(Path(tmp) / "buffers"),
                )
                task.advance()
            except (RuntimeError, ValueError, OSError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PublishError(f"the unsloth merge failed: {first}; re-run with --backend hf to merge without unsloth") from None
        for name in NOT_PUBLISHED:
            (out_dir / name).unlink(missing_ok=True)
        check_safetensors(out_dir)
