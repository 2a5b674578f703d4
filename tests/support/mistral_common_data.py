"""Mistral's own tokenizers, read from the mistral-common wheel that `make setup` downloads (not installs: it pins
numpy below the version the rest of the environment uses). The wheel ships them as data files
(`mistral_common/data/tokenizer.model.v1` is Mistral 7B v0.1's and v0.2's SentencePiece model)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

VERSION = "1.12.0"


def wheel() -> Path:
    """The downloaded wheel, beside the venv's other shared files (Makefile: `pip download mistral-common`)."""
    path = Path(sys.prefix) / "share" / "hubship" / "wheels" / f"mistral_common-{VERSION}-py3-none-any.whl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; run `make setup` (it downloads mistral-common {VERSION}'s wheel)")
    return path


def data_file(name: str, out: Path) -> Path:
    """Write the wheel's `mistral_common/data/<name>` to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel()) as archive:
        out.write_bytes(archive.read(f"mistral_common/data/{name}"))
    return out
