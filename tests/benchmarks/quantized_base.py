"""A bitsandbytes nf4 copy of a synthetic base, written shard by shard the way transformers saves a 4-bit model
(bitsandbytes' own `quantize_4bit` and `QuantState.as_dict(packed=True)`, one tensor at a time), for the merge
benchmark's 4-bit-base case: a QLoRA adapter merged onto its dequantized base."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def quantize_base(base: Path, out: Path, targets: tuple[str, ...]) -> Path:
    """`base` (safetensors shards + index + config) with every linear weight of `targets` in nf4, into `out`."""
    import bitsandbytes.functional as bnb
    from safetensors import safe_open
    from safetensors.torch import save_file

    out.mkdir(parents=True)
    index = json.loads((base / "model.safetensors.index.json").read_text())
    weight_map, total = {}, 0
    for shard in sorted(set(index["weight_map"].values())):
        tensors = {}
        with safe_open(str(base / shard), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                value = f.get_tensor(key)
                if key.removesuffix(".weight").rsplit(".", 1)[-1] in targets:
                    packed, state = bnb.quantize_4bit(value, blocksize=64, quant_type="nf4")
                    tensors[key] = packed
                    tensors.update({f"{key}.{name}": part for name, part in state.as_dict(packed=True).items()})
                else:
                    tensors[key] = value
        save_file(tensors, str(out / shard), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(tensors, shard))
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        del tensors
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    config = json.loads((base / "config.json").read_text())
    config["quantization_config"] = {
        "quant_method": "bitsandbytes",
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": "bfloat16",
        "bnb_4bit_quant_storage": "uint8",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for path in base.iterdir():
        if path.name.startswith("tokenizer"):
            shutil.copyfile(path, out / path.name)
    return out
