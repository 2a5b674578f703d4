"""How far an artifact's logits are from the reference's: max difference, KL divergence, top-1 agreement."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from hubship.domain.errors import PublishError

TIE_NATS = 0.1  # the reference's top token and the artifact's pick differ by less: a near-tie


class StoredRows:
    """Rows of a 2-d tensor in a safetensors file, read on indexing (`rows[a:b]`), so only those rows are resident."""

    def __init__(self, path: Path, key: str, rows: int | None = None) -> None:
        """`rows`: only the first ones (the whole tensor: None)."""
        self._path, self._key = path, key
        with safe_open(str(path), framework="pt") as f:
            shape = f.get_slice(key).get_shape()
        self.shape = torch.Size([min(shape[0], rows if rows is not None else shape[0]), *shape[1:]])

    def __getitem__(self, rows: slice) -> torch.Tensor:
        with safe_open(str(self._path), framework="pt") as f:
            return f.get_slice(self._key)[rows]


def kl_metrics(logits: torch.Tensor, reference: torch.Tensor | StoredRows, chunk: int = 16) -> dict[str, float]:
    """Position by position against the reference: max |a - r|; mean KL(reference || artifact) in nats (fp64);
    top1_agreement, the share where both pick the same top token (strict, as everywhere in hubship); top1_near,
    the same up to near-ties: the artifact's pick counts when the reference rates it within TIE_NATS of its own
    top token (on a flat distribution, which of two near-equal tokens wins says little about quality). Works through `chunk`
    positions at a time in buffers allocated once (fresh temporaries per chunk fragment the heap)."""
    if logits.shape != reference.shape:
        raise PublishError(f"the artifact's logits have shape {tuple(logits.shape)}, the reference's {tuple(reference.shape)}")
    positions, vocab = reference.shape
    log_a, log_r, work, probs = (torch.empty((min(chunk, positions), vocab), dtype=torch.float64) for _ in range(4))
    max_abs, kl_sum, near, exact = 0.0, 0.0, 0, 0
    for start in range(0, positions, chunk):
        n = min(chunk, positions - start)
        la, lr, w, p = log_a[:n], log_r[:n], work[:n], probs[:n]
        la.copy_(logits[start : start + n])
        lr.copy_(reference[start : start + n])
        max_abs = max(max_abs, float(torch.sub(la, lr, out=w).abs_().max()))
        la.sub_(torch.logsumexp(la, -1, keepdim=True))  # log-softmax, in place
        lr.sub_(torch.logsumexp(lr, -1, keepdim=True))
        kl_sum += float(torch.sub(lr, la, out=w).mul_(torch.exp(lr, out=p)).sum(-1).clamp_min(0).sum())
        pick = la.argmax(-1)
        gap = lr.max(-1).values - lr.gather(-1, pick[:, None])[:, 0]
        near += int((gap <= TIE_NATS).sum())
        exact += int((pick == lr.argmax(-1)).sum())
    count = max(positions, 1)
    return {"max_abs_diff": max_abs, "mean_kl": kl_sum / count, "top1_agreement": exact / count, "top1_near": near / count}
