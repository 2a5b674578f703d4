"""ModelLoader over local transformers folders and the Hugging Face cache (offline: nothing is downloaded)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from huggingface_hub.repocard import metadata_load

from hubship.adapters.torch.model_files import weight_files
from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint
from hubship.domain.errors import UserInputError

_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(.+)\.(lora_A|lora_B)(?:\.[^.]+)?\.weight$")


def _shapes(path: Path, files: tuple[str, ...]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every tensor's shape and dtype from the safetensors headers; a truncated or corrupt file is a UserInputError."""
    shapes = {}
    for name in files:
        file = path.joinpath(name)
        try:
            size = file.stat().st_size
            with file.open("rb") as fh:
                length = int.from_bytes(fh.read(8), "little")
                header = json.loads(fh.read(length)) if 0 < length <= size - 8 else None
        except (OSError, ValueError, UnicodeDecodeError):
            header = None
        ends = [m.get("data_offsets", [0, 0])[1] for k, m in (header or {}).items() if k != "__metadata__"]
        if not isinstance(header, dict) or 8 + length + max(ends, default=0) > size:
            raise UserInputError(f"{file} is truncated or not a safetensors file; re-download or re-save that model")
        for key, meta in header.items():
            if key != "__metadata__":
                shapes[key] = (tuple(meta["shape"]), meta["dtype"])
    return shapes


def _resolve(ref: BaseRef) -> Path:
    if ref.path is not None:
        path = Path(ref.path)
        if not path.is_dir():
            raise UserInputError(f"base model {ref.path} does not exist; pass --base with the base model's folder")
        return path
    try:
        return Path(snapshot_download(ref.hub_id, revision=ref.revision, local_files_only=True))
    except (LocalEntryNotFoundError, HFValidationError, OSError):
        raise UserInputError(
            f"base model {ref.hub_id} is not in the local Hugging Face cache; download it first"
            f" (hf download {ref.hub_id}) or pass --base with a local folder"
        ) from None


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
        shapes = _shapes(path, files)
        nbytes = largest = 0
        for shape, dtype in shapes.values():
            count = 1
            for dim in shape:
                count *= dim
            nbytes += count * _BYTES.get(dtype, 2)
            largest = max(largest, count * _BYTES.get(dtype, 2))
        torch_dtype = str(config.get("torch_dtype") or config.get("dtype") or "float32")
        text_config = config.get("text_config") or {}
        license_ = None
        if (path / "README.md").is_file():
            try:
                license_ = metadata_load(path / "README.md").get("license")  # type: ignore[union-attr]
            except Exception:
                license_ = None
        return BaseInfo(
            path=str(path),
            architecture=(config.get("architectures") or ["unknown"])[0],
            model_type=str(config.get("model_type", "unknown")),
            dtype=_DTYPES.get(torch_dtype, "fp32"),
            parameter_bytes=nbytes,
            weight_files=files,
            license=license_ if isinstance(license_, str) else None,
            tie_word_embeddings=bool(config.get("tie_word_embeddings", text_config.get("tie_word_embeddings", False))),
            vocab_size=config.get("vocab_size") or text_config.get("vocab_size"),
            largest_tensor_bytes=largest,
            num_layers=config.get("num_hidden_layers") or text_config.get("num_hidden_layers"),
            tensors=tuple((name, tuple(shape)) for name, (shape, _) in sorted(shapes.items())),
        )

    def check_compatible(self, checkpoint: Checkpoint, base: BaseInfo) -> None:
        """Every LoRA pair must target a base weight of matching shape (headers only, seconds)."""
        base_shapes = _shapes(Path(base.path), base.weight_files)
        adapter_shapes = _shapes(Path(checkpoint.root), (checkpoint.adapter_weights,))
        pairs: dict[str, dict[str, tuple[int, ...]]] = {}
        for key, (shape, _) in adapter_shapes.items():
            match = _LORA_KEY.match(key)
            if match:
                pairs.setdefault(match.group(1), {})[match.group(2)] = shape
        fan_in_fan_out = bool(checkpoint.adapter_config.get("fan_in_fan_out"))
        for module, pair in sorted(pairs.items()):
            weight = base_shapes.get(f"{module}.weight")
            if weight is None:
                raise UserInputError(
                    f"the adapter targets {module}, which base model {checkpoint.base.display} does not have;"
                    " pass --base with the model the adapter was trained on"
                )
            shape = weight[0]
            if len(shape) != 2 or "lora_A" not in pair or "lora_B" not in pair:
                continue
            out_dim, in_dim = (shape[1], shape[0]) if fan_in_fan_out else shape
            if pair["lora_A"][1] != in_dim or pair["lora_B"][0] != out_dim:
                raise UserInputError(
                    f"the adapter does not fit base model {checkpoint.base.display}: {module} is {tuple(shape)} in the base"
                    f" but the adapter expects ({pair['lora_B'][0]}, {pair['lora_A'][1]}); pass --base with the model it was trained on"
                )
