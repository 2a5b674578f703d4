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
