"""CheckpointReader over a local folder: a PEFT adapter, a full fine-tune, or a trainer's run folder of
`checkpoint-N/` folders (resolved to one checkpoint). JSON configs, safetensors headers, TRL metadata; loads no
weights."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import attrs

from hubship.adapters.torch.checkpoint_files import check_links, check_utf8, common_files, load_json, printable
from hubship.adapters.torch.full_checkpoint import is_full_model, read_full
from hubship.adapters.torch.run_folder import resolve_run_folder
from hubship.domain.checkpoint import BaseRef, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.lineage import looks_like_hub_id

WEIGHT_FILES = ("adapter_model.safetensors",)
_ITEM_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2}
_ITEM_BYTES |= {"I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
_FLOAT_BITS = {"F16": ("<u2", 0x7C00), "BF16": ("<u2", 0x7F80), "F32": ("<u4", 0x7F800000), "F64": ("<u8", 0x7FF0000000000000)}


def _span(key: str, meta: Any) -> tuple[int, int]:
    """Where a tensor's bytes lie in the data section, checked against its dtype and shape."""
    begin, end = meta["data_offsets"]
    if not all(isinstance(n, int) and n >= 0 for n in (begin, end, *meta["shape"])):
        raise ValueError(f"{key} has offsets or a shape that are not whole numbers")
    if end - begin != math.prod(meta["shape"]) * _ITEM_BYTES[meta["dtype"]]:
        raise ValueError(f"{key} has {end - begin} bytes, not what its dtype and shape need")
    return begin, end


def _check_safetensors(path: Path) -> None:
    """The header is what safetensors accepts: each tensor's bytes fit its dtype and shape, and the tensors fill
    the data section end to end. Read with the standard library (safetensors' own check imports numpy: 0.1 s of
    every publish)."""
    size = path.stat().st_size
    try:
        header, data_start = _header(path)
        spans = sorted(_span(key, meta) for key, meta in header.items() if key != "__metadata__")
        ends = [0] + [end for _, end in spans]
        if [begin for begin, _ in spans] != ends[:-1]:
            raise ValueError("its tensors overlap or leave gaps")
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise UserInputError(f"{path} is not a readable safetensors file (truncated or corrupt: {exc}); re-save the adapter") from None
    if not spans:
        raise UserInputError(f"{path} holds no tensors: the adapter is empty; check the trainer saved it")
    if data_start + ends[-1] > size:
        raise UserInputError(f"{path} is truncated ({size} bytes, header promises {data_start + ends[-1]}); re-save the adapter")


def _header(path: Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's header and where its data starts (ValueError when there is no such header)."""
    with path.open("rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        if not 2 <= header_len <= path.stat().st_size - 8:
            raise ValueError(f"a header of {header_len} bytes")
        header = json.loads(fh.read(header_len))
    if not isinstance(header, dict):
        raise ValueError("a header that is not a JSON object")
    return header, 8 + header_len


def _check_finite(path: Path, header: dict[str, Any], data_start: int) -> None:
    """Refuse NaN or infinite adapter weights (a diverged run): all exponent bits set. One read of the
    adapter (megabytes, not the base), one tensor at a time."""
    import numpy as np

    with path.open("rb") as fh:
        for key, meta in header.items():
            kind = _FLOAT_BITS.get(meta.get("dtype")) if key != "__metadata__" else None
            if kind is None:
                continue
            start, end = meta["data_offsets"]
            fh.seek(data_start + start)
            bits = np.frombuffer(fh.read(end - start), dtype=kind[0])
            if np.any((bits & kind[1]) == kind[1]):
                raise UserInputError(
                    f"{path.name} in {path.parent} holds NaN or infinite values ({key}): the training diverged;"
                    " publish an earlier checkpoint"
                )


def _base_ref(value: str | None, revision: str | None) -> BaseRef:
    if not value:
        raise UserInputError("adapter_config.json names no base_model_name_or_path; pass --base PATH_OR_ID")
    path = Path(value).expanduser()
    if path.exists() or not looks_like_hub_id(value):
        return BaseRef(path=str(path.resolve()))
    return BaseRef(hub_id=value, revision=revision or "main")


def _read_adapter(root: Path, shown: Path, base: str | None) -> Checkpoint:
    config_path = root / "adapter_config.json"
    config = load_json(config_path)
    if not isinstance(config, dict):
        raise UserInputError(f"adapter_config.json in {shown} is not a JSON object; re-save the adapter")
    weights = next((root / w for w in WEIGHT_FILES if (root / w).is_file()), None)
    if weights is None:
        hint = " (adapter_model.bin is a pickle: re-save with safe_serialization=True)" if (root / "adapter_model.bin").exists() else ""
        raise UserInputError(f"{shown} has no adapter_model.safetensors{hint}")
    _check_safetensors(weights)
    check_links(root, [config_path.name, weights.name])
    common = common_files(root)
    return Checkpoint(
        root=str(root),
        adapter_config=config,
        adapter_weights=weights.name,
        adapter_bytes=weights.stat().st_size,
        base=_base_ref(base or config.get("base_model_name_or_path"), config.get("revision")),
        **attrs.asdict(common, recurse=False) | {"files": (config_path.name, weights.name, *common.files)},
    )


def _has_model(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file() or is_full_model(folder)


class SafetensorsCheckpointReader:
    def check_values(self, checkpoint: Checkpoint) -> None:
        """Refuse an adapter with NaN or infinite weights (a diverged run): one read of the adapter's weights."""
        if checkpoint.is_full or not checkpoint.adapter_weights:
            return
        path = Path(checkpoint.root) / checkpoint.adapter_weights
        _check_finite(path, *_header(path))

    def read(self, path: Path, base: str | None = None, pick: str | None = None, *, check_values: bool = True) -> Checkpoint:
        """The checkpoint in the folder `path`: an adapter, a full model, or the one a run folder's `pick` (or the
        default rule, domain.run_folder) selects; with `check_values`, its weights' values are checked too."""
        given = path.expanduser()
        if not given.is_dir():
            raise UserInputError(f"checkpoint {printable(path)} is not a folder; pass the folder the trainer saved the adapter to")
        given = given.resolve()
        check_utf8(given)
        choice = resolve_run_folder(given, pick, _has_model, printable(path))
        root = given / choice.folder if choice.folder else given
        shown = Path(path) / choice.folder if choice.folder else Path(path)
        if choice.folder:
            check_utf8(root)
        if (root / "adapter_config.json").is_file():
            checkpoint = _read_adapter(root, shown, base)
            if check_values:
                self.check_values(checkpoint)
        else:
            checkpoint = read_full(root, shown, _base_ref(base, None) if base else None, common_files)
        return attrs.evolve(checkpoint, selection=choice.line)
