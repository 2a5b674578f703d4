"""ModelLoader over local transformers folders and the Hugging Face cache (offline: nothing is downloaded).

A bitsandbytes-quantized base (QLoRA) is described by its logical shapes and sizes, the ones the model stands
for (bnb_weights reads them from the quant states); a base whose quant state is missing or corrupt is refused.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from hubship.adapters.torch.bnb_weights import QuantizedWeight
from hubship.adapters.torch.lineage_facts import lineage_facts, readme_metadata
from hubship.adapters.torch.merge.lora import adapter_parts
from hubship.adapters.torch.merge.safetensors_reader import Stored
from hubship.adapters.torch.model_files import model_tensors, weight_files
from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.quantization import parse_quantization

_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(.+)\.(lora_A|lora_B)(?:\.[^.]+)?\.weight$")


def _resolve(ref: BaseRef) -> Path:
    if ref.path is not None:
        path = Path(ref.path)
        if not path.is_dir():
            raise UserInputError(f"base model {ref.path} does not exist; pass --base with the base model's folder")
        return path
    from huggingface_hub import snapshot_download  # imported here: a local base (and `hubship --help`) does not pay for it
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(ref.hub_id, revision=ref.revision, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        raise UserInputError(
            f"base model {ref.hub_id} is not in the local Hugging Face cache; download it first"
            f" (hf download {ref.hub_id}) or pass --base with a local folder"
        ) from None


def _element_bytes(source: Stored | QuantizedWeight, dtype: str) -> int:
    """Bytes per element as the model stands: a quantized weight counts in the model's dtype."""
    if isinstance(source, QuantizedWeight):
        return _BYTES[dtype]
    return source.nbytes // max(math.prod(source.shape), 1)


def _placed(
    pairs: dict[str, dict[str, tuple[int, ...]]],
    adapter: dict[str, Stored | QuantizedWeight],
    base: dict[str, Stored | QuantizedWeight],
    checkpoint: Checkpoint,
    base_dir: Path,
) -> dict[str, dict[str, tuple[int, ...]]]:
    """The LoRA pairs under the names the base's files store: a module transformers 5 renames in memory (a
    vision-language model's `model.language_model.*`) under its file name; a LoRA on fused MoE experts (peft's
    target_parameters) that fits one of its module's parameters is checked there, and dropped from the pairs."""
    if all(f"{module}.weight" in base for module in pairs):
        return pairs  # the usual case: no modules built, nothing imported
    from hubship.adapters.torch.merge.fused import place  # torch and transformers' conversion mapping: only here

    config = dict(checkpoint.adapter_config)
    stored = {k: v for k, v in adapter.items() if isinstance(v, Stored)}
    loras, _ = adapter_parts(config, stored)
    strays = {m: lo for m, lo in loras.items() if f"{m}.weight" not in base}
    placed, _, _ = place(strays, {}, set(base), base_dir, config, checkpoint.base.display)
    named = {id(lora.a): module for module, lora in strays.items()}  # placing renames a LoRA, keeping its tensors
    kept = {m: pair for m, pair in pairs.items() if m not in strays}
    kept |= {module: pairs.get(named[id(lora.a)], {}) for module, lora in placed.items()}
    return kept


class HfTransformersLoader:
    def base_info(self, ref: BaseRef) -> BaseInfo:
        path = _resolve(ref)
        config_path = path / "config.json"
        if not config_path.is_file():
            raise UserInputError(f"base model {ref.display} has no config.json; pass --base with a transformers model folder")
        try:
            config: dict[str, Any] = json.loads(config_path.read_text())
        except json.JSONDecodeError:
            raise UserInputError(f"config.json of base model {ref.display} is not valid JSON") from None
        files = weight_files(path)
        if not files:
            raise UserInputError(f"base model {ref.display} has no .safetensors weights; convert it to safetensors first")
        quantization = parse_quantization(config, f"base model {ref.display}")
        torch_dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
        dtype = _DTYPES.get(torch_dtype, "fp32")
        tensors = model_tensors(path, files, quantization.bits if quantization else None)
        sizes = [math.prod(t.shape) * _element_bytes(t, dtype) for t in tensors.values()]
        text_config = config.get("text_config") or {}
        readme = readme_metadata(path)
        license_ = readme.get("license")
        return BaseInfo(
            path=str(path),
            architecture=(config.get("architectures") or ["unknown"])[0],
            model_type=str(config.get("model_type", "unknown")),
            dtype=dtype,
            parameter_bytes=sum(sizes),
            weight_files=files,
            license=license_ if isinstance(license_, str) else None,
            tie_word_embeddings=bool(config.get("tie_word_embeddings", text_config.get("tie_word_embeddings", False))),
            vocab_size=config.get("vocab_size") or text_config.get("vocab_size"),
            largest_tensor_bytes=max(sizes, default=0),
            num_layers=config.get("num_hidden_layers") or text_config.get("num_hidden_layers"),
            quantization=quantization,
            facts=lineage_facts(path, config, readme),
            tensors=tuple((name, tuple(t.shape)) for name, t in sorted(tensors.items())),
        )

    def check_compatible(self, checkpoint: Checkpoint, base: BaseInfo) -> None:
        """Every LoRA pair must target a base weight of matching (logical) shape (headers only, seconds)."""
        if checkpoint.adapter_weights is None:
            return  # a full fine-tune: its weights are the model
        bits = base.quantization.bits if base.quantization else None
        base_shapes = model_tensors(Path(base.path), base.weight_files, bits)
        adapter_shapes = model_tensors(Path(checkpoint.root), (checkpoint.adapter_weights,))
        pairs: dict[str, dict[str, tuple[int, ...]]] = {}
        for key, stored in adapter_shapes.items():
            match = _LORA_KEY.match(key)
            if match:
                pairs.setdefault(match.group(1), {})[match.group(2)] = stored.shape
        fan_in_fan_out = bool(checkpoint.adapter_config.get("fan_in_fan_out"))
        pairs = _placed(pairs, adapter_shapes, base_shapes, checkpoint, Path(base.path))
        for module, pair in sorted(pairs.items()):
            weight = base_shapes.get(f"{module}.weight")
            if weight is None:
                raise UserInputError(
                    f"the adapter targets {module}, which base model {checkpoint.base.display} does not have;"
                    " pass --base with the model the adapter was trained on"
                )
            shape = weight.shape
            if len(shape) != 2 or "lora_A" not in pair or "lora_B" not in pair:
                continue
            out_dim, in_dim = (shape[1], shape[0]) if fan_in_fan_out else shape
            if pair["lora_A"][1] != in_dim or pair["lora_B"][0] != out_dim:
                raise UserInputError(
                    f"the adapter does not fit base model {checkpoint.base.display}: {module} is {tuple(shape)} in the base"
                    f" but the adapter expects ({pair['lora_B'][0]}, {pair['lora_A'][1]}); pass --base with the model it was trained on"
                )
