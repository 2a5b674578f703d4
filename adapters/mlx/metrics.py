"""How far MLX logits are from the reference's, in numpy: the same four figures, with the same meanings, as
hubship.adapters.torch.verify.metrics.kl_metrics (tests/integration/test_mlx_formats.py holds them equal)."""

from __future__ import annotations

import numpy as np

from hubship.domain.errors import PublishError

TIE_NATS = 0.1  # the reference's top token and the artifact's pick differ by less: a near-tie


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def kl_metrics(logits: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Position by position against `reference` ([T, vocab] both): max |a - r|; mean KL(reference || artifact) in nats
    (fp64); top1_agreement (strict argmax agreement); top1_near (a pick the reference rates within TIE_NATS of its top)."""
    if logits.shape != reference.shape:
        raise PublishError(f"the artifact's logits have shape {tuple(logits.shape)}, the reference's {tuple(reference.shape)}")
    a, r = logits.astype(np.float64), reference.astype(np.float64)
    log_a, log_r = _log_softmax(a), _log_softmax(r)
    kl = np.clip((np.exp(log_r) * (log_r - log_a)).sum(axis=-1), 0.0, None)
    pick = log_a.argmax(axis=-1)
    gap = log_r.max(axis=-1) - np.take_along_axis(log_r, pick[:, None], axis=-1)[:, 0]
    return {
        "max_abs_diff": float(np.abs(a - r).max()) if a.size else 0.0,
        "mean_kl": float(kl.mean()) if len(kl) else 0.0,
        "top1_agreement": float((pick == log_r.argmax(axis=-1)).mean()) if len(kl) else 1.0,
        "top1_near": float((gap <= TIE_NATS).mean()) if len(kl) else 1.0,
    }
