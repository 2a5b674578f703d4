from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class MlxConverter(Protocol):
    """Converts a merged model folder to MLX with mlx-lm's own conversion (`mlx_lm.convert`), quantized or not.

    `unsupported` answers in seconds without loading mlx (the plan asks it); `convert` writes the MLX weights,
    config.json and tokenizer into `out_dir` (empty or absent) and returns notes for the card; PublishError on failure.
    """

    def unsupported(self, model_type: str, architecture: str) -> str | None:
        """Why mlx-lm cannot run this architecture (one line), or None when it can."""
        ...

    def convert(self, model_dir: Path, out_dir: Path, *, bits: int | None, progress: Progress) -> tuple[str, ...]:
        """`bits` 4 or 8: affine quantization at mlx-lm's default group size; None: the weights as they are (16-bit)."""
        ...
