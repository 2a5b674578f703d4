"""GGUF formats: `gguf-<quant>` for every quantization llama.cpp makes, and `gguf-lora` (entry point `gguf`).

One internal `gguf-intermediate` (the merged model converted once, losslessly: f32, f16 or bf16 as
the merged model is) feeds every `gguf-<quant>`: each is made from it with llama.cpp's quantizer,
and a `gguf-f16`/`gguf-bf16` of the intermediate's own type is a link to it, not a second copy.
The plan checks the converter supports the architecture and the tokenizer (`preflight`) before
any merge starts. When the internal `reference-logits` format is in the plan, each quantization
is measured against it (KL, top-1) under per-quantization default thresholds.

The low-bit quantizations also build from the internal `gguf-imatrix` (the importance matrix, computed
once per publish by llama.cpp's `llama-imatrix`; docs/adr/012-imatrix.md).

The formats live in gguf_intermediate.py, gguf_imatrix.py, gguf_quant.py and gguf_lora.py (what they
share in gguf_common.py); the quantization table in domain/gguf_quants.py.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from hubship.application.format_registry import ENTRY_POINT_GROUP
from hubship.application.formats.gguf_common import REFERENCE, Preflight
from hubship.application.formats.gguf_imatrix import GgufImatrixFormat
from hubship.application.formats.gguf_intermediate import GgufIntermediateFormat
from hubship.application.formats.gguf_lora import GgufLoraFormat
from hubship.application.formats.gguf_quant import GgufQuantFormat
from hubship.domain.gguf_quants import QUANTS

__all__ = ["QUANTS", "REFERENCE", "GgufImatrixFormat", "GgufIntermediateFormat", "GgufLoraFormat", "GgufQuantFormat", "gguf_formats"]


def _reference_registered() -> bool:
    return any(ep.name == REFERENCE for ep in entry_points(group=ENTRY_POINT_GROUP))


def gguf_formats() -> list[Any]:
    """The GGUF family (entry point `gguf`): the intermediate, the imatrix, gguf-lora and one format per quantization."""
    preflight = Preflight()
    with_reference = _reference_registered()
    return [
        GgufIntermediateFormat(preflight),
        GgufImatrixFormat(preflight),
        GgufLoraFormat(preflight, with_reference),
        *(GgufQuantFormat(q, preflight, with_reference) for q in QUANTS),
    ]
