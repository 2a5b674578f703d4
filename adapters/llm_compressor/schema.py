"""The `quantization_config` llm-compressor saved, checked as vLLM reads it: against compressed-tensors' own schema
(its pydantic QuantizationConfig, in hubship's environment), with every module it was told to ignore left out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from hubship.domain.errors import PublishError


def check_quantization_config(config_file: Path, ignore: Sequence[str]) -> dict:
    """The validated quantization_config of `config_file`; a PublishError when it is absent, does not validate, or
    quantizes lm_head."""
    from compressed_tensors.quantization import QuantizationConfig
    from pydantic import ValidationError

    raw = json.loads(config_file.read_text()).get("quantization_config")
    if not raw or raw.get("quant_method") != "compressed-tensors":
        raise PublishError(f"{config_file} has no compressed-tensors quantization_config")
    try:
        config = QuantizationConfig.model_validate(raw)
    except ValidationError as exc:
        raise PublishError(f"{config_file}'s quantization_config fails compressed-tensors' schema: {str(exc).splitlines()[0]}") from None
    if "lm_head" in ignore and "lm_head" not in (config.ignore or []):
        raise PublishError(f"{config_file}'s quantization_config quantizes lm_head, which was to stay in 16-bit")
    return raw
