from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class GgufVerifier(Protocol):
    """Measures a GGUF model as llama.cpp runs it.

    Returns `file_size_bytes` (all shards) and `bits_per_weight`; given `reference`, a safetensors
    file holding `input_ids` (int64 [T]) and `logits` (float32 [T, vocab]) of the model it was made
    from, also `mean_kl` (mean KL(reference || gguf) per position) and `top1_agreement` (share of
    positions whose most likely next token agrees), and both again on each half of the probe's positions
    (`mean_kl_first_half`, ..., `top1_agreement_second_half`; domain/imatrix.py `probe_halves`).
    """

    def measure(self, files: Sequence[Path], reference: Path | None, *, progress: Progress, lora: Path | None = None) -> dict[str, float]:
        """`files` are the GGUF's shards in order (one file when it is not split); `lora`: a GGUF LoRA adapter llama.cpp
        applies to the model (`--lora`) before it is measured."""
        ...

    def projector(self, model_file: Path, projector_file: Path) -> dict[str, float | str]:
        """Load a vision-language model's projector (`mmproj-*.gguf`) beside its GGUF `model_file` as llama.cpp's
        multimodal tools do and encode one image through it: `projector_file`, `projector_image_tokens`,
        `projector_embedding_width`; PublishError when llama.cpp cannot use it for that model."""
        ...
