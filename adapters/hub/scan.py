"""The scan before anything is sent: no pickle, and no Hub token in a text file, safetensors metadata, card or manifest."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from hubship.domain.errors import UserInputError
from hubship.domain.manifest import CARD_NAME
from hubship.domain.publication import Publication
from hubship.domain.secrets import SNIFF_BYTES, count_hub_tokens, is_pickle, looks_like_text, pickle_refusal, token_refusal

SCAN_CHUNK = 4 * 1024 * 1024


def scan(pub: Publication) -> None:
    """Refuse, before anything is sent, a pickle or a text file that holds a Hub token."""
    source = Path(pub.source_dir)
    for entry in pub.manifest.files:
        if entry.path == CARD_NAME:
            continue
        path = source / entry.path
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
            if is_pickle(entry.path, head):
                raise UserInputError(pickle_refusal(f"{pub.format}/{entry.path}"))
            if entry.path.endswith(".safetensors") and len(head) >= 8:
                fh.seek(0)
                if count_hub_tokens(_safetensors_header(fh)):
                    raise UserInputError(token_refusal(f"{pub.format}/{entry.path} (its metadata)"))
            elif looks_like_text(head):
                fh.seek(0)
                if any(count_hub_tokens(chunk) for chunk in _overlapping(fh)):
                    raise UserInputError(token_refusal(f"{pub.format}/{entry.path}"))
    for label, data in ((CARD_NAME, pub.card.encode()), ("manifest.json", pub.manifest.to_json().encode())):
        if count_hub_tokens(data):
            raise UserInputError(token_refusal(f"{pub.format}/{label}"))


def _safetensors_header(fh: io.BufferedIOBase) -> bytes:
    """The JSON header of a safetensors file (where its metadata strings live); empty if it has none."""
    size = int.from_bytes(fh.read(8), "little")
    return fh.read(size) if size <= 100 * 1024 * 1024 else b""


def _overlapping(fh: io.BufferedIOBase) -> Iterator[bytes]:
    """The file in chunks that overlap by enough to catch a token cut at a chunk boundary."""
    tail = b""
    while chunk := fh.read(SCAN_CHUNK):
        yield tail + chunk
        tail = chunk[-128:]
