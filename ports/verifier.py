from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.probe import FULL_PROBE_TOKENS
from hubship.ports.progress import Progress

REFERENCE_FILE = "reference.safetensors"


class Verifier(Protocol):
    """Measures how far a built model's logits are from what base + adapter, unmerged, give on a fixed probe.

    The reference file (REFERENCE_FILE) holds two tensors: `input_ids` (int64, [T]) and `logits`
    (float32, [T, vocab]). Both steps keep memory bounded by running the probe block by block, so
    a model larger than RAM can be verified.
    """

    def reference(
        self, checkpoint: Checkpoint, base: BaseInfo, out_file: Path, progress: Progress, tokens: int = FULL_PROBE_TOKENS
    ) -> None:
        """Compute the reference once, from the base and the adapter as peft runs them in training, into `out_file`: the
        probe's first `tokens` tokens (at most the model's context)."""
        ...

    def compare(self, model_dir: Path, reference_file: Path, progress: Progress, tokens: int | None = None) -> dict[str, float]:
        """Run the reference's probe (its first `tokens`; None: all) through the model in `model_dir`: max_abs_diff,
        mean_kl (nats), top1_agreement (strict argmax agreement) and top1_near (near-ties within 0.1 nats count); for a
        vision-language model in 16 bits also vision_tensors and vision_tensors_wrong (its vision tower's tensors that
        are not the base's where the adapter does not reach them, or are where it does); `device`, where the figures
        were computed, when the verifier says."""
        ...
