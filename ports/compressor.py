from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class Compressor(Protocol):
    """Quantizes a merged model folder into a compressed-tensors checkpoint (the format vLLM and SGLang load).

    `scheme` is a compressed-tensors preset scheme (FP8_DYNAMIC, W4A16); modules matching `ignore` (names, or
    `re:` patterns) stay in 16-bit; `calibration` is the text a calibrated scheme (W4A16 through GPTQ) is fitted
    on, None for a data-free one. Writes weights and config.json (with its `quantization_config`, checked against
    compressed-tensors' schema) into `out_dir`; raises PublishError when quantizing fails.
    """

    def missing(self) -> str | None:
        """Why nothing can be compressed on this machine (one line naming the extra to install), or None; in seconds."""
        ...

    def compress(
        self, model_dir: Path, out_dir: Path, *, scheme: str, ignore: Sequence[str], calibration: str | None, progress: Progress
    ) -> None: ...
