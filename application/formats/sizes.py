"""What each format's files will weigh, for `plan`: the weights (domain.artifact_sizes, from the base's tensor
shapes) plus the small files a format carries beside them (tokenizer, chat template, configs).

The side files are the ones the saver copies: the checkpoint's tokenizer files when it has any, else the
base's. They are measured on disk (stat only, no reading), so a 17 MB tokenizer.json is counted as such.
"""

from __future__ import annotations

from pathlib import Path

from hubship.domain.artifact_sizes import bnb4_bytes, gguf_bytes, safetensors_bytes
from hubship.domain.checkpoint import TOKENIZER_FILES, BaseInfo, Checkpoint

CONFIG_FILES = ("config.json", "generation_config.json")
DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


def side_files_bytes(checkpoint: Checkpoint, base: BaseInfo) -> int:
    """The tokenizer, chat template and configs a published model folder carries beside its weights."""
    source = Path(checkpoint.root) if checkpoint.tokenizer_files else Path(base.path)
    files = [source / name for name in TOKENIZER_FILES] + [Path(base.path) / name for name in CONFIG_FILES]
    return sum(f.stat().st_size for f in files if f.is_file())


def n_params(base: BaseInfo) -> int:
    """The base's parameter count, from its size on disk and its dtype."""
    return base.parameter_bytes // DTYPE_BYTES.get(base.dtype, 2)


def merged_bytes(base: BaseInfo, dtype: str) -> int:
    """The weights of the merged model at `dtype`."""
    if not base.tensors:
        return n_params(base) * DTYPE_BYTES[dtype]
    return safetensors_bytes(base.tensors, DTYPE_BYTES[dtype])


def bnb_bytes(base: BaseInfo, double_quant: bool) -> int:
    """The weights of the merged model at 4 bits (bitsandbytes); what is not quantized stays at the base's dtype."""
    if not base.tensors:
        return n_params(base) // 2 + n_params(base) // 16
    return bnb4_bytes(base.tensors, DTYPE_BYTES.get(base.dtype, 2), double_quant)


def gguf_file_bytes(base: BaseInfo, ftype: str, bits_per_weight: float) -> int:
    """A GGUF of the merged model at llama.cpp file type `ftype`; `bits_per_weight` serves a base of unknown shapes."""
    if not base.tensors:
        return int(n_params(base) * bits_per_weight / 8)
    return gguf_bytes(base.tensors, ftype, vocab_size=base.vocab_size, tied=base.tie_word_embeddings)
