from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.gguf_tokenizer import DEFAULT_SETTINGS, TokenizerSettings
from hubship.ports.progress import Progress


class Converter(Protocol):
    """llama.cpp's own converter: Hugging Face model and PEFT adapter folders to GGUF files.

    Nothing is fetched from a network. Errors are one line: UserInputError when the input cannot be
    converted (unsupported architecture, tokenizer) or the converter is not installed, PublishError
    when a conversion breaks. `name`, `base_model` (a hub id or a plain name) and `license` are
    written as GGUF metadata; chat template and special tokens come from the folder's tokenizer files.
    """

    def warm_up(self) -> None:
        """Start what the next conversion needs (the converter's imports) now, so that it overlaps the steps
        before that conversion; a publish calls this once it knows it will convert (idempotent)."""
        ...

    def cool_down(self) -> None:
        """Stop what `warm_up` started and no conversion used (idempotent)."""
        ...

    def check(self, config_dir: Path, tokenizer_dir: Path, *, settings: TokenizerSettings = DEFAULT_SETTINGS) -> Path:
        """Preflight in seconds, before any merge: the architecture in `config_dir`/config.json is
        supported and the tokenizer files in `tokenizer_dir` convert; returns that vocab-only GGUF
        (tokenizer, chat template, no weights), kept for later runs of the same inputs. `settings` are
        written into the GGUF over the converter's own reading (domain.gguf_tokenizer)."""
        ...

    def convert(
        self,
        model_dir: Path,
        out_file: Path,
        *,
        outtype: str,
        name: str,
        base_model: str | None,
        license: str | None,
        progress: Progress,
        settings: TokenizerSettings = DEFAULT_SETTINGS,
    ) -> None:
        """Write the model in `model_dir` (config, safetensors, tokenizer) as one GGUF file of
        `outtype` (f32, f16 or bf16) at `out_file`, with `settings` as in `check`."""
        ...

    def convert_projector(
        self, model_dir: Path, out_file: Path, *, outtype: str, name: str, base_model: str | None, license: str | None, progress: Progress
    ) -> bool:
        """Write the vision tower and projector of the vision-language model in `model_dir` as llama.cpp's
        multimodal projector file (`--mmproj`) of `outtype` at `out_file`; False, writing nothing, when the model
        has no vision tower (a text-only model)."""
        ...

    def convert_lora(
        self,
        adapter_dir: Path,
        base_dir: Path,
        out_file: Path,
        *,
        outtype: str,
        name: str,
        base_model: str | None,
        license: str | None,
        progress: Progress,
    ) -> None:
        """Write the PEFT LoRA adapter in `adapter_dir` as a GGUF LoRA adapter at `out_file`; the
        base's config is read from the local folder `base_dir` (its weights are not needed)."""
        ...

    def split(self, gguf_file: Path, max_bytes: int, progress: Progress) -> tuple[Path, ...]:
        """Split `gguf_file` into llama.cpp shards `<stem>-00001-of-0000N.gguf` of at most about
        `max_bytes` each, remove it, and return the shards in order (llama.cpp loads the first)."""
        ...
