"""Saver that copies checkpoint files: adapter weights and config, tokenizer, chat template, generation config.

A checkpoint saved by transformers 5 has no SentencePiece `tokenizer.model`; when its tokenizer is token for token
its base's (domain.tokenizer_identity), the base's `tokenizer.model` is copied beside it, with a note for the card.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from hubship.domain.checkpoint import PROCESSOR_FILES, TOKENIZER_FILES, BaseInfo, Checkpoint
from hubship.domain.tokenizer_identity import SENTENCEPIECE_FILE, TAKEN_NOTE, tokenizer_difference
from hubship.ports.progress import Progress


def _copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


def _same_tokenizer(ckpt: Path, base_dir: Path) -> bool:
    """Whether both folders have a `tokenizer.json` and they agree token for token."""
    documents = [folder / "tokenizer.json" for folder in (base_dir, ckpt)]
    if not all(d.is_file() for d in documents):
        return False
    base, checkpoint = (json.loads(d.read_text(encoding="utf-8")) for d in documents)
    return tokenizer_difference(base, checkpoint) is None


class LocalFileSaver:
    def save_adapter(self, checkpoint: Checkpoint, out_dir: Path, progress: Progress, *, base_model_id: str | None = None) -> None:
        root = Path(checkpoint.root)
        config = dict(checkpoint.adapter_config)
        config["base_model_name_or_path"] = base_model_id  # a hub id, or null: a local path means nothing to a reader
        (out_dir / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        weights = str(checkpoint.adapter_weights)
        with progress.task("copy adapter", total=checkpoint.adapter_bytes, unit="bytes") as task:
            _copy(root / weights, out_dir / weights)
            task.advance(checkpoint.adapter_bytes)

    def save_tokenizer(self, checkpoint: Checkpoint, base: BaseInfo, out_dir: Path) -> tuple[str, ...]:
        ckpt, base_dir = Path(checkpoint.root), Path(base.path)
        source = ckpt if checkpoint.tokenizer_files else base_dir
        notes: tuple[str, ...] = ()
        for name in TOKENIZER_FILES:
            if (source / name).is_file():
                _copy(source / name, out_dir / name)
        spm = base_dir / SENTENCEPIECE_FILE
        if not (out_dir / SENTENCEPIECE_FILE).exists() and spm.is_file() and source != base_dir and _same_tokenizer(ckpt, base_dir):
            _copy(spm, out_dir / SENTENCEPIECE_FILE)
            notes = (TAKEN_NOTE,)
        for name in PROCESSOR_FILES:  # a vision-language model's image processor: the checkpoint's, else the base's
            found = next((d / name for d in (ckpt, base_dir) if (d / name).is_file()), None)
            if found is not None:
                _copy(found, out_dir / name)
        for candidate in (ckpt, base_dir):
            if (candidate / "generation_config.json").is_file():
                _copy(candidate / "generation_config.json", out_dir / "generation_config.json")
                break
        if checkpoint.chat_template and not (out_dir / "chat_template.jinja").exists():
            tok_config = out_dir / "tokenizer_config.json"
            has_inline = tok_config.is_file() and "chat_template" in json.loads(tok_config.read_text())
            if not has_inline:
                (out_dir / "chat_template.jinja").write_text(checkpoint.chat_template)
        return notes
