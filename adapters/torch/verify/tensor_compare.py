"""How far a written tensor is from the value it should hold, in units in the last place of the dtype it is written in.

A correct merge computes base + adapter in fp32 and rounds once to the output dtype, so each written element is
within half a unit in the last place (ulp) of the exact fp32 value: `ulp_error` is at most 0.5 (plus fp32 noise,
far below a 16-bit ulp). A dropped, scaled or misplaced delta is off by many ulps wherever the delta is bigger than
the rounding. Tensors that should be copies are compared slab by slab, so a whole embedding is never held twice.
"""

from __future__ import annotations

import torch

from hubship.adapters.torch.bnb_weights import QuantizedWeight, read_source
from hubship.adapters.torch.merge.safetensors_reader import Stored, read_tensor

SLAB_BYTES = 16 * 1024 * 1024  # rows compared at once when a tensor should be a copy


def ulp_error(written: torch.Tensor, expected: torch.Tensor, base: torch.Tensor | None = None) -> float:
    """The largest |written - expected| in ulps of `written`'s dtype, the ulp taken at the larger magnitude of the
    two (and of `base`, the value before the merge: fp32's own rounding of a sum is relative to its terms). 0 when
    rounding `expected` gives `written` exactly; inf for a NaN or a shape that differs."""
    if written.shape != expected.shape:
        return float("inf")
    if not written.dtype.is_floating_point:
        return 0.0 if torch.equal(written, expected.to(written.dtype)) else float("inf")
    differ = expected.to(written.dtype) != written
    if not bool(differ.any()):
        return 0.0
    w, p = written[differ].to(torch.float32), expected[differ].to(torch.float32)
    scale = torch.maximum(w.abs(), p.abs())
    if base is not None:
        scale = torch.maximum(scale, base[differ].to(torch.float32).abs())
    info = torch.finfo(written.dtype)
    _, exponent = torch.frexp(scale)
    ulp = torch.ldexp(torch.full_like(scale, info.eps), exponent - 1).clamp_min(info.tiny * info.eps)
    worst = float(((w - p).abs() / ulp).max())
    return worst if worst == worst else float("inf")  # NaN: inf


def copy_error(written: Stored, source: Stored | QuantizedWeight) -> float:
    """ulp_error of a tensor that should be `source` cast to the written dtype, slab by slab (a quantized source is
    dequantized whole: it is a quarter of its 16-bit size)."""
    if tuple(written.shape) != tuple(source.shape):
        return float("inf")
    if isinstance(source, QuantizedWeight) or len(written.shape) < 2:
        return ulp_error(read_source(written), read_source(source).to(torch.float32))
    rows = written.shape[0]
    step = max(1, SLAB_BYTES // max(1, written.nbytes // max(rows, 1)))
    worst = 0.0
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        got, want = read_tensor(written, rows=(start, stop)), read_tensor(source, rows=(start, stop))
        if got.dtype == want.dtype and torch.equal(got.view(torch.uint8), want.view(torch.uint8)):
            continue  # a byte-identical copy: nothing to measure
        worst = max(worst, ulp_error(got, want.to(torch.float32)))
    return worst
