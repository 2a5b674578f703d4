"""How a serialized model's weights are quantized, as its config.json's `quantization_config` says.

hubship reads bitsandbytes models (4-bit nf4/fp4 with or without double quantization, and 8-bit): QLoRA
adapters are trained on them. Other methods (GPTQ, AWQ...) are refused in one line: their weights cannot be
dequantized here. Pure: the config is handed in as a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from hubship.domain.errors import UserInputError

QUANT_TYPES = ("nf4", "fp4")
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}


@attrs.frozen(kw_only=True)
class Quantization:
    """A bitsandbytes quantization: `bits` 4 (with `quant_type` nf4 or fp4) or 8 (int8, one scale per row)."""

    bits: int
    quant_type: str | None = None
    double_quant: bool = False
    compute_dtype: str | None = None
    skip_modules: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.bits not in (4, 8) or (self.bits == 4) != (self.quant_type in QUANT_TYPES):
            raise ValueError(f"invalid bitsandbytes quantization: {self.bits} bits, type {self.quant_type}")

    @property
    def label(self) -> str:
        """A few words: `bitsandbytes nf4 (double quant)`, `bitsandbytes int8`, with the modules left unquantized."""
        kind = f"{self.quant_type}{' (double quant)' if self.double_quant else ''}" if self.bits == 4 else "int8"
        kept = f", {', '.join(self.skip_modules)} left unquantized" if self.skip_modules else ""
        return f"bitsandbytes {kind}{kept}"


def parse_quantization(config: Mapping[str, Any], model: str) -> Quantization | None:
    """The quantization a model's config.json declares (None when its weights are not quantized); a method hubship
    cannot dequantize, or a config that says neither 4 nor 8 bits, is a UserInputError naming `model`."""
    raw = config.get("quantization_config")
    if raw is None and isinstance(config.get("text_config"), Mapping):
        raw = config["text_config"].get("quantization_config")
    if not raw:
        return None
    if not isinstance(raw, Mapping):
        raise UserInputError(f"quantization_config in the config.json of {model} is not a JSON object; re-save the model")
    method = str(raw.get("quant_method") or "bitsandbytes").lower()
    if method != "bitsandbytes":
        raise UserInputError(
            f"{model} is quantized with {method}, which hubship cannot dequantize;"
            " pass --base with its 16-bit model, or a bitsandbytes 4-bit or 8-bit one"
        )
    four = bool(raw.get("load_in_4bit") or raw.get("_load_in_4bit"))
    eight = bool(raw.get("load_in_8bit") or raw.get("_load_in_8bit"))
    if four == eight:
        raise UserInputError(f"the quantization_config of {model} sets neither or both of load_in_4bit and load_in_8bit; re-save the model")
    quant_type = str(raw.get("bnb_4bit_quant_type") or "fp4").lower() if four else None
    if four and quant_type not in QUANT_TYPES:
        raise UserInputError(f"{model} uses the 4-bit type {quant_type!r}; hubship reads nf4 and fp4")
    compute = raw.get("bnb_4bit_compute_dtype")
    skip = raw.get("llm_int8_skip_modules") or ()
    return Quantization(
        bits=4 if four else 8,
        quant_type=quant_type,
        double_quant=bool(raw.get("bnb_4bit_use_double_quant")) if four else False,
        compute_dtype=_DTYPES.get(str(compute), str(compute)) if compute else None,
        skip_modules=tuple(str(m) for m in skip) if isinstance(skip, list | tuple) else (str(skip),),
    )
