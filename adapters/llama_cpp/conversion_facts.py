"""What the converter adapter reads from a model folder and a failed run: whether the model holds
multi-token-prediction (MTP) weights, and why a vocab-only preflight failed, in one line for the user."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from pathlib import Path

from hubship.domain.tokenizer_identity import SENTENCEPIECE_FILE, tokenizer_difference

_LAYER = re.compile(r"^(?:model\.)?(?:language_model\.)?layers\.(\d+)\.")
_TOKENIZER_FRAME = re.compile(r", in \w*(?:vocab|tokeniz)\w*$")
NO_GGUF = "GGUF formats cannot be built for it (lora and merged-16bit publish without them)"


def _tensor_names(path: Path) -> list[str]:
    """The tensor names of a safetensors file, from its header (no tensor is read)."""
    with path.open("rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        return [name for name in json.loads(f.read(length)) if name != "__metadata__"]


def has_vision_tower(model_dir: Path) -> bool:
    """Whether the model is a vision-language model: its config has a `vision_config` (transformers' convention for
    the image encoder of every such model class), which llama.cpp's converter writes as the `--mmproj` file."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8")) if (model_dir / "config.json").is_file() else {}
    return isinstance(config.get("vision_config"), dict)


def has_mtp_weights(model_dir: Path) -> bool:
    """Whether the model's weight files hold MTP / NextN layers: `mtp.*` tensors, or layers past `num_hidden_layers`
    (where DeepSeek and GLM append theirs)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8")) if (model_dir / "config.json").is_file() else {}
    config = {**config, **(config.get("text_config") or {})}
    layers = int(config.get("num_hidden_layers") or 0)
    for path in sorted(model_dir.glob("*.safetensors")):
        for name in _tensor_names(path):
            if name.startswith(("mtp.", "model.mtp.")) or ".mtp." in name:
                return True
            match = _LAYER.match(name)
            if match and layers and int(match.group(1)) >= layers:
                return True
    return False


def _sentencepiece_refusal(base_dir: Path, tokenizer_dir: Path) -> str | None:
    """Why the base's `tokenizer.model` cannot stand in for the checkpoint's missing one; None when it could."""
    if not (base_dir / SENTENCEPIECE_FILE).is_file():
        return (
            f"llama.cpp's converter needs the SentencePiece {SENTENCEPIECE_FILE} for this model and neither the checkpoint"
            f" nor its base has one; {NO_GGUF}"
        )
    documents = [folder / "tokenizer.json" for folder in (base_dir, tokenizer_dir)]
    if not all(d.is_file() for d in documents):
        difference = "the base or the checkpoint has no tokenizer.json to compare them by"
    else:
        difference = tokenizer_difference(*(json.loads(d.read_text(encoding="utf-8")) for d in documents))
    if difference is None:
        return None
    return (
        f"llama.cpp's converter needs the SentencePiece {SENTENCEPIECE_FILE} for this model; the checkpoint has none (transformers 5"
        f" saves none) and the base's is not the checkpoint's tokenizer: {difference}; {NO_GGUF}"
    )


def preflight_refusal(reason: str, lines: Sequence[str], base_dir: Path, tokenizer_dir: Path, version: str) -> str:
    """The one-line refusal of a failed vocab-only conversion (`reason`: its telling line; `lines`: its output): a
    missing `tokenizer.model`, a tokenizer the converter failed to read, or else the model the converter failed on."""
    if SENTENCEPIECE_FILE in reason and not (tokenizer_dir / SENTENCEPIECE_FILE).is_file():
        refusal = _sentencepiece_refusal(base_dir, tokenizer_dir)
        if refusal:
            return refusal
    if any(_TOKENIZER_FRAME.search(line.rstrip()) for line in lines):
        return f"the checkpoint's tokenizer does not convert to GGUF: {reason}"
    return f"llama.cpp's converter (llama-cpp-python {version}) fails on this model: {reason}; {NO_GGUF}"


def restored_tokenizer_config(folder: Path) -> str | None:
    """`folder`'s tokenizer_config.json with the `added_tokens_decoder` that transformers 4 wrote, rebuilt from
    tokenizer.json's `added_tokens`, when transformers 5 left it out (llama.cpp's SentencePiece converter reads the
    added tokens and their `special` flag only there); None when nothing is missing."""
    config_file, tokenizer_file = folder / "tokenizer_config.json", folder / "tokenizer.json"
    if not config_file.is_file() or not tokenizer_file.is_file():
        return None
    config = json.loads(config_file.read_text(encoding="utf-8"))
    added = json.loads(tokenizer_file.read_text(encoding="utf-8")).get("added_tokens") or []
    if not isinstance(config, dict) or "added_tokens_decoder" in config or not added:
        return None
    decoder = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added}
    return json.dumps({**config, "added_tokens_decoder": decoder}, indent=2, ensure_ascii=False)
