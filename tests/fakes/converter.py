"""A Converter test double that counts each kind of call and hands the work to a real converter."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from hubship.domain.gguf_tokenizer import DEFAULT_SETTINGS, TokenizerSettings
from hubship.ports.converter import Converter
from hubship.ports.progress import Progress


class FakeConverter:
    """Counts `warm_up`, `cool_down`, `check`, `convert`, `convert_lora` and `split` calls (in `calls`), delegating each to `real`."""

    def __init__(self, real: Converter) -> None:
        self.real = real
        self.calls: collections.Counter[str] = collections.Counter()

    def warm_up(self) -> None:
        self.calls["warm_up"] += 1
        self.real.warm_up()

    def cool_down(self) -> None:
        self.calls["cool_down"] += 1
        self.real.cool_down()

    def check(self, config_dir: Path, tokenizer_dir: Path, *, settings: TokenizerSettings = DEFAULT_SETTINGS) -> Path:
        self.calls["check"] += 1
        return self.real.check(config_dir, tokenizer_dir, settings=settings)

    def convert(self, model_dir: Path, out_file: Path, **kwargs: Any) -> None:
        self.calls["convert"] += 1
        self.real.convert(model_dir, out_file, **kwargs)

    def convert_projector(self, model_dir: Path, out_file: Path, **kwargs: Any) -> bool:
        self.calls["convert_projector"] += 1
        return self.real.convert_projector(model_dir, out_file, **kwargs)

    def convert_lora(self, adapter_dir: Path, base_dir: Path, out_file: Path, **kwargs: Any) -> None:
        self.calls["convert_lora"] += 1
        self.real.convert_lora(adapter_dir, base_dir, out_file, **kwargs)

    def split(self, gguf_file: Path, max_bytes: int, progress: Progress) -> tuple[Path, ...]:
        self.calls["split"] += 1
        return self.real.split(gguf_file, max_bytes, progress)
