from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class GgufQuantizer(Protocol):
    """llama.cpp's quantization of a GGUF file, in-process, on all cores.

    `quant` is llama.cpp's type name (F16, BF16, Q8_0, Q4_K_M, ...). The source is an f32, f16 or
    bf16 GGUF; a failure is a PublishError stating llama.cpp's reason in one line.
    """

    def quantize(self, source: Path, out_file: Path, quant: str, *, progress: Progress) -> None: ...
