"""CheckpointReader over a local folder: JSON configs, safetensors headers, TRL metadata. Loads no weights."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from safetensors import safe_open

from hubship.domain.checkpoint import TOKENIZER_FILES, BaseRef, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.training_method import detect_training_method

WEIGHT_FILES = ("adapter_model.safetensors",)
_FLOAT_BITS = {"F16": ("<u2", 0x7C00), "BF16": ("<u2", 0x7F80), "F32": ("<u4", 0x7F800000), "F64": ("<u8", 0x7FF0000000000000)}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(
            f"{path.name} in {path.parent} is not valid JSON ({exc.__class__.__name__}); re-save it from the trainer"
        ) from None


def _check_safetensors(path: Path) -> None:
    try:
        with safe_open(str(path), framework="pt") as f:  # reads and validates the header only
            keys = list(f.keys())
    except Exception as exc:
        raise UserInputError(f"{path} is not a readable safetensors file (truncated or corrupt: {exc}); re-save the adapter") from None
    if not keys:
        raise UserInputError(f"{path} holds no tensors: the adapter is empty; check the trainer saved it")
    size = path.stat().st_size
    with path.open("rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(header_len))
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + header_len + end > size:
        raise UserInputError(f"{path} is truncated ({size} bytes, header promises {8 + header_len + end}); re-save the adapter")
    _check_finite(path, header, 8 + header_len)


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
    if path.exists() or value.startswith((".", "/", "~")) or not _HUB_ID.match(value):
        return BaseRef(path=str(path.resolve()))
    return BaseRef(hub_id=value, revision=revision or "main")


def _chat_template(root: Path, tokenizer_config: dict[str, Any]) -> str | None:
    if (root / "chat_template.jinja").is_file():
        return (root / "chat_template.jinja").read_text(encoding="utf-8")
    if (root / "chat_template.json").is_file():
        value = _load_json(root / "chat_template.json").get("chat_template")
        return value if isinstance(value, str) else None
    value = tokenizer_config.get("chat_template")
    return value if isinstance(value, str) else None


def _readme_metadata(readme: Path) -> tuple[list[str], list[str], str]:
    """Tags, datasets and the text of a TRL/PEFT-written README (front matter parsed loosely)."""
    if not readme.is_file():
        return [], [], ""
    text = readme.read_text(encoding="utf-8", errors="replace")
    tags: list[str] = []
    datasets: list[str] = []
    current: list[str] | None = None
    front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    for line in front.splitlines():
        key = re.match(r"^(\w+):\s*(.*)$", line)
        if key:
            current = {"tags": tags, "datasets": datasets}.get(key.group(1))
            if current is not None and key.group(2).strip():
                current += [v.strip(" '\"") for v in key.group(2).strip("[]").split(",") if v.strip()]
        elif current is not None and line.strip().startswith("- "):
            current.append(line.strip()[2:].strip(" '\""))
    return tags, datasets, text


def _logged_metrics(trainer_state: Path) -> set[str]:
    """The metric names a Trainer logged (`log_history` of trainer_state.json); empty when absent or unreadable."""
    try:
        history = json.loads(trainer_state.read_text(encoding="utf-8")).get("log_history") or []
    except (OSError, ValueError, AttributeError):
        return set()
    return {key for entry in history if isinstance(entry, dict) for key in entry}


def _printable(path: Path | str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _check_utf8(root: Path) -> None:
    """Names go into manifests, cards and Hub paths, which are UTF-8: refuse a folder or file name that is not."""
    for name in (str(root), *(entry.name for entry in root.iterdir())):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UserInputError(f"the name {_printable(name)!r} in the checkpoint is not valid UTF-8; rename it") from None


class SafetensorsCheckpointReader:
    def read(self, path: Path, base: str | None = None) -> Checkpoint:
        root = path.expanduser()
        if not root.is_dir():
            raise UserInputError(f"checkpoint {_printable(path)} is not a folder; pass the folder the trainer saved the adapter to")
        root = root.resolve()
        _check_utf8(root)
        config_path = root / "adapter_config.json"
        if not config_path.is_file():
            raise UserInputError(f"{path} is not a PEFT checkpoint (no adapter_config.json); pass the folder holding the adapter")
        config = _load_json(config_path)
        if not isinstance(config, dict):
            raise UserInputError(f"adapter_config.json in {path} is not a JSON object; re-save the adapter")
        weights = next((root / w for w in WEIGHT_FILES if (root / w).is_file()), None)
        if weights is None:
            hint = " (adapter_model.bin is a pickle: re-save with safe_serialization=True)" if (root / "adapter_model.bin").exists() else ""
            raise UserInputError(f"{path} has no adapter_model.safetensors{hint}")
        _check_safetensors(weights)
        tokenizer_config_path = root / "tokenizer_config.json"
        tokenizer_config = _load_json(tokenizer_config_path) if tokenizer_config_path.is_file() else {}
        tags, datasets, readme_text = _readme_metadata(root / "README.md")
        trainer_state = root / "trainer_state.json"
        signals = [
            *(t for t in tags if not t.startswith("base_model")),
            *re.findall(r"trained (?:with|using) \[?(\w+)", readme_text, re.IGNORECASE),
        ]
        files = [config_path.name, weights.name, *(n for n in TOKENIZER_FILES if (root / n).is_file())]
        generation = root / "generation_config.json"
        if generation.is_file():
            files.append(generation.name)
        for name in files:
            if (root / name).is_symlink() and not (root / name).resolve().is_relative_to(root):
                raise UserInputError(f"{name} in {path} is a symlink pointing outside the checkpoint; copy the real file in")
        return Checkpoint(
            root=str(root),
            adapter_config=config,
            adapter_weights=weights.name,
            adapter_bytes=weights.stat().st_size,
            base=_base_ref(base or config.get("base_model_name_or_path"), config.get("revision")),
            tokenizer_files=tuple(n for n in TOKENIZER_FILES if (root / n).is_file()),
            chat_template=_chat_template(root, tokenizer_config),
            generation_config=generation.name if generation.is_file() else None,
            trainer_state=trainer_state.name if trainer_state.is_file() else None,
            readme="README.md" if (root / "README.md").is_file() else None,
            training_method=detect_training_method(signals, _logged_metrics(trainer_state)),
            datasets=tuple(d for d in datasets if d),
            files=tuple(files),
        )
