"""MlxVerifier with mlx-lm: the artifact loaded by `mlx_lm.load` (weights and tokenizer, as a user loads it) and the
merged model as mlx-lm runs it unquantized, both fed the reference's token ids in one forward pass. The logits are
the runtime's own (an MLX model computes in its weights' dtype: bf16 for a bf16 merge), so the figures say what a
user of mlx-lm gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file

from hubship.adapters.mlx.metrics import kl_metrics
from hubship.adapters.mlx.source_view import source_view
from hubship.domain.errors import PublishError
from hubship.ports.progress import Progress


def _logits(model: Any, input_ids: np.ndarray) -> np.ndarray:
    import mlx.core as mx

    out = model(mx.array(input_ids.astype(np.int32)[None]))[0].astype(mx.float32)
    return np.array(out)


def mlx_logits(model_dir: Path, input_ids: np.ndarray, *, with_tokenizer: bool) -> np.ndarray:
    """The logits [T, vocab] mlx-lm's model in `model_dir` gives at each position of `input_ids`."""
    from mlx_lm import load
    from mlx_lm.utils import load_model

    try:
        model = load(str(model_dir))[0] if with_tokenizer else load_model(model_dir)[0]
    except (ValueError, KeyError, OSError, RuntimeError, FileNotFoundError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PublishError(f"mlx-lm cannot load {model_dir.name}: {first}") from None
    return _logits(model, input_ids)


class MlxLmVerifier:
    def measure(self, artifact_dir: Path, source_dir: Path, reference_file: Path, progress: Progress) -> dict[str, float]:
        probe = load_file(str(reference_file))
        ids, reference = probe["input_ids"], probe["logits"]
        with progress.task(f"verify {artifact_dir.name} with mlx-lm", total=2, unit="models") as task:
            artifact = mlx_logits(artifact_dir, ids, with_tokenizer=True)
            task.advance()
            with source_view(source_dir) as (view, _):
                sixteen = mlx_logits(view, ids, with_tokenizer=False)
            task.advance()
        measured = kl_metrics(artifact, reference)
        runtime, quantization = kl_metrics(sixteen, reference), kl_metrics(artifact, sixteen)
        return {
            **measured,
            "runtime_kl": runtime["mean_kl"],
            "runtime_top1": runtime["top1_agreement"],
            "quantization_kl": quantization["mean_kl"],
            "quantization_top1": quantization["top1_agreement"],
        }
