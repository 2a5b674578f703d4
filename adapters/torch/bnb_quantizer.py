"""Quantizer through bitsandbytes (via transformers): 4-bit nf4/fp4 weights, saved so `from_pretrained` loads them on CPU.

transformers quantizes each linear weight as it loads the merged model (so memory holds the 4-bit
model plus about one layer in 16 bits), keeps the output head unquantized, and writes the
quantization settings into config.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoConfig, BitsAndBytesConfig

from hubship.adapters.torch.meta_model import model_class
from hubship.adapters.torch.verify.memory import large_blocks_mapped, release_freed_memory
from hubship.domain.errors import PublishError
from hubship.ports.progress import Progress

COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class BnbQuantizer:
    def quantize(self, model_dir: Path, out_dir: Path, *, quant_type: str, double_quant: bool, progress: Progress) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        compute = COMPUTE_DTYPES.get(str(config.get("dtype") or config.get("torch_dtype")), torch.bfloat16)
        settings = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=quant_type,
            bnb_4bit_use_double_quant=double_quant,
            bnb_4bit_compute_dtype=compute,
        )
        with progress.task(f"quantize ({quant_type}, bitsandbytes)", total=2, unit="steps") as task:
            try:
                auto = model_class(AutoConfig.from_pretrained(model_dir))  # a causal LM, or a vision-language model
                with large_blocks_mapped():  # each 16-bit weight freed after its quantization really leaves (memory.py)
                    model = auto.from_pretrained(model_dir, quantization_config=settings, device_map="cpu", dtype=compute)
                task.advance()
                model.save_pretrained(out_dir, safe_serialization=True)
                task.advance()
                del model
            except (RuntimeError, ValueError, ImportError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise PublishError(f"bitsandbytes 4-bit quantization failed: {first}") from None
            except OSError as exc:
                raise PublishError(f"writing the 4-bit model into {out_dir} failed: {exc.strerror or exc}") from None
            finally:
                release_freed_memory(collect=True)  # the check that follows loads the 4-bit model: not on top of this one
