"""How close bitsandbytes' own CPU forward of a 4-bit model can be to hubship's fp32 reference on this processor.

On a CPU with AVX512-BF16, bitsandbytes' 4-bit kernels cast activations and absmax to bf16 (its
backends/cpu/ops.py, `has_avx512bf16`), so its forward matches an fp32 forward of the same dequantized weights only
to bf16 rounding (max abs diff about 2e-3 on the tiny model); elsewhere it computes in fp32 and matches to 1e-4.
"""

from __future__ import annotations

import torch
from bitsandbytes.functional import has_avx512bf16


def assert_matches_bnb_forward(bnb_logits: torch.Tensor, reference: torch.Tensor) -> None:
    """The logits of bitsandbytes' forward equal the fp32 reference, to what this processor's kernels allow."""
    diff = (bnb_logits - reference).abs().max()
    if has_avx512bf16():
        kl = torch.nn.functional.kl_div(bnb_logits.log_softmax(-1), reference.log_softmax(-1), log_target=True, reduction="none")
        assert diff <= 1e-2 and kl.sum(-1).mean() < 1e-4, (float(diff), float(kl.sum(-1).mean()))
    else:
        assert diff <= 1e-4, float(diff)
