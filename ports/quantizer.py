from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class Quantizer(Protocol):
    """Quantizes a merged model folder to bitsandbytes 4-bit, saved so transformers `from_pretrained` loads it on CPU.

    `quant_type` is nf4 or fp4; `double_quant` also quantizes the quantization constants.
    Writes weights and config.json into `out_dir`; raises PublishError when quantizing fails.
    """

    def quantize(self, model_dir: Path, out_dir: Path, *, quant_type: str, double_quant: bool, progress: Progress) -> None: ...
