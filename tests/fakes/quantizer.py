from __future__ import annotations

from pathlib import Path

from hubship.ports.progress import Progress


class CountingQuantizer:
    """The real bitsandbytes quantizer, counting each model it quantizes (which folder), so a test sees what was rebuilt."""

    def __init__(self) -> None:
        from hubship.adapters.torch.bnb_quantizer import BnbQuantizer

        self._real = BnbQuantizer()
        self.calls: list[Path] = []

    def quantize(self, model_dir: Path, out_dir: Path, *, quant_type: str, double_quant: bool, progress: Progress) -> None:
        self.calls.append(model_dir)
        self._real.quantize(model_dir, out_dir, quant_type=quant_type, double_quant=double_quant, progress=progress)


class BrokenQuantizer:
    """A quantizer with a systematic bug on purpose: the real bitsandbytes quantizer, run on a copy of the model whose
    projection weights carry a fixed random error of `noise` x their own spread (a wrong rounding in the code both
    builds share). It breaks the base yardstick's build the same way as the artifact's, so both lose alike."""

    def __init__(self, scratch: Path, noise: float) -> None:
        from hubship.adapters.torch.bnb_quantizer import BnbQuantizer

        self._real, self.scratch, self.noise = BnbQuantizer(), scratch, noise
        self.calls: list[Path] = []

    def quantize(self, model_dir: Path, out_dir: Path, *, quant_type: str, double_quant: bool, progress: Progress) -> None:
        import shutil

        import torch
        from safetensors.torch import load_file, save_file

        self.calls.append(model_dir)
        copy = self.scratch / f"noisy-{len(self.calls)}"
        shutil.copytree(model_dir, copy)
        generator = torch.Generator().manual_seed(0)
        for shard in sorted(copy.glob("*.safetensors")):
            weights = load_file(shard)
            for name, tensor in sorted(weights.items()):
                if name.endswith("proj.weight"):
                    error = torch.randn(tensor.shape, generator=generator) * tensor.float().std() * self.noise
                    weights[name] = (tensor.float() + error).to(tensor.dtype)
            save_file(weights, shard, metadata={"format": "pt"})
        self._real.quantize(copy, out_dir, quant_type=quant_type, double_quant=double_quant, progress=progress)
