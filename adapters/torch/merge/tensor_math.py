"""Each merged tensor's values, per variant (plain LoRA, embedding LoRA, DoRA, LoRA bias, a share of a LoRA on a fused
parameter): summed in fp32, cast once."""

from __future__ import annotations

import math

import torch

from hubship.adapters.torch.bnb_weights import read_source
from hubship.adapters.torch.merge.plan import Output
from hubship.adapters.torch.merge.safetensors_reader import read_tensor


class Buffers:
    """Memory for computing tensors, allocated once at the size of the largest and reused for each: the source
    bytes, the fp32 sum and the cast result. (Fresh allocations per tensor cost more in page faults than the math.)"""

    def __init__(self, outputs: list[Output]) -> None:
        computed = [o for o in outputs if not o.is_copy]
        self.source = torch.empty(max((o.source.nbytes for o in computed), default=0), dtype=torch.uint8)
        self.fp32 = torch.empty(max((math.prod(o.shape) for o in computed if o.lora or o.delta), default=0), dtype=torch.float32)
        self.result = torch.empty(max((o.nbytes for o in computed), default=0), dtype=torch.uint8)

    def cast(self, value: torch.Tensor, out: Output) -> torch.Tensor:
        """`value` converted to the output dtype, in the result buffer (valid until the next call)."""
        return self.result[: out.nbytes].view(out.dtype).view(out.shape).copy_(value)


def merged_tensor(out: Output, buffers: Buffers) -> torch.Tensor:
    """The output tensor's values: the source plus the LoRA delta, summed in fp32 in place, cast once to the output
    dtype (a quantized source is dequantized first, in fp32). The result lives in `buffers` until the next call."""
    value = read_source(out.source, buffers.source)
    lora = out.lora
    if lora is None and out.delta is None:
        return buffers.cast(value, out)
    merged = buffers.fp32[: math.prod(out.shape)].view(out.shape).copy_(value)
    if lora is None and out.delta is not None:  # its share of a LoRA on a fused parameter (MoE experts)
        return buffers.cast(merged.add_(out.delta.value()), out)
    if out.name.endswith(".bias"):
        merged.add_(read_tensor(lora.bias).to(torch.float32), alpha=lora.scaling)  # type: ignore[arg-type]
        return buffers.cast(merged, out)
    a, b = read_tensor(lora.a).to(torch.float32), read_tensor(lora.b).to(torch.float32)
    if lora.embedding:  # W (vocab, dim) += s * (B @ A)^T; DoRA rescales each of the dim columns
        merged.addmm_(a.T, b.T, alpha=lora.scaling)
        if lora.magnitude is not None:
            merged.mul_((read_tensor(lora.magnitude).to(torch.float32) / torch.linalg.norm(merged, dim=0)).unsqueeze(0))
        return buffers.cast(merged, out)
    rows = merged.T if lora.transposed else merged  # (out, in) view, whatever the storage order
    rows.addmm_(b, a, alpha=lora.scaling)
    if lora.magnitude is not None:  # DoRA: each output row rescaled to its trained magnitude
        rows.mul_((read_tensor(lora.magnitude).to(torch.float32) / torch.linalg.norm(rows, dim=1)).unsqueeze(1))
    return buffers.cast(merged, out)
