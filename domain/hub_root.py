"""The repo root of the single layout, listed: its index card and the copies of a GGUF folder's Ollama files.

In `--repo-layout single` every format has its folder, with its own manifest; the root holds what no folder
lists: the card over every folder and, for a GGUF publish, `template`, `system` and `params` (the Hub reads
them only at the root). The root manifest (`manifest.json`, format `repo-root`) lists them with their sha256,
so `hubship verify hf:OWNER/NAME` covers every file hubship wrote, and names in `built_from` the artifacts
(format -> content key) the copies came from. Pure rules: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from hubship.domain.hub_ollama import HUB_OLLAMA_FILES
from hubship.domain.manifest import FileEntry, Manifest

ROOT_FORMAT = "repo-root"


def root_manifest(name: str, files: Iterable[FileEntry], built_from: Mapping[str, str]) -> Manifest:
    """The root manifest of a single-layout repo; its key is a digest of what it lists, so an unchanged root
    gives a byte-identical manifest (no commit)."""
    listed = tuple(sorted(set(files)))
    digest = hashlib.sha256(json.dumps([[f.path, f.size, f.sha256] for f in listed]).encode()).hexdigest()
    return Manifest(name=name, format=ROOT_FORMAT, key=digest, params={}, files=listed, inputs={}, tools={}, built_from=dict(built_from))


def is_root_manifest(manifest: Manifest | None) -> bool:
    """Whether `manifest` is a single-layout root manifest (a split layout's main repo has its model's there)."""
    return manifest is not None and manifest.format == ROOT_FORMAT


def kept_root_copies(previous: Manifest | None, publishes_gguf: bool) -> tuple[tuple[FileEntry, ...], dict[str, str]]:
    """The Ollama files an earlier publish copied to the root that this one keeps listing, with the artifacts they
    came from: all of them when this publish has no GGUF format (they still serve the GGUF folders it leaves
    alone); none when it has one: its own copies replace them, and the ones it no longer has are deleted."""
    if not is_root_manifest(previous) or publishes_gguf:
        return (), {}
    assert previous is not None
    kept = tuple(e for e in previous.files if e.path in HUB_OLLAMA_FILES)
    return kept, ({f: k for f, k in previous.built_from.items() if f.startswith("gguf")} if kept else {})
