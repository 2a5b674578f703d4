"""The manifest: proof of what an artifact holds (sha256 of every file) and what it was built from."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import attrs

MANIFEST_NAME = "manifest.json"
CARD_NAME = "README.md"
SCHEMA = "hubship.manifest/1"
# Digests taken while an artifact's files were written, so they need not be read back to be hashed: a JSON object
# {relative path: [size, mtime_ns, inode, sha256]} in the artifact's folder; an entry counts only while the file's
# stat still matches it (the same rule as the hash cache).
WRITTEN_HASHES = ".written-sha256.json"


def stat_stamp(stat: os.stat_result) -> list[int]:
    """What a recorded digest is checked against before it is trusted: size, mtime (ns) and inode of the file."""
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


@attrs.frozen(order=True)
class FileEntry:
    path: str
    size: int
    sha256: str


@attrs.frozen(kw_only=True)
class Manifest:
    """Everything needed to check a publication and trace it back to its inputs.

    Holds no timestamps, so the same inputs always give a byte-identical manifest.
    """

    name: str
    format: str
    key: str
    params: Mapping[str, Any]
    files: tuple[FileEntry, ...]
    inputs: Mapping[str, Any]
    tools: Mapping[str, str]
    built_from: Mapping[str, str] = attrs.field(factory=dict)
    verification: Mapping[str, Any] = attrs.field(factory=dict)

    def publishes(self, name: str, key: str) -> bool:
        """Whether this manifest records the artifact `key` published under `name`: a rename changes the card's
        title (and GGUF file names), so the same key under another name is not published yet."""
        return self.key == key and self.name == name

    def to_json(self) -> str:
        data = {
            "schema": SCHEMA,
            "name": self.name,
            "format": self.format,
            "key": self.key,
            "params": dict(self.params),
            "files": [attrs.asdict(f) for f in sorted(self.files)],
            "inputs": dict(self.inputs),
            "built_from": dict(self.built_from),
            "tools": dict(self.tools),
            "verification": dict(self.verification),
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("not a hubship manifest")
        return cls(
            name=data["name"],
            format=data["format"],
            key=data["key"],
            params=data.get("params", {}),
            files=tuple(FileEntry(**f) for f in data["files"]),
            inputs=data.get("inputs", {}),
            tools=data.get("tools", {}),
            built_from=data.get("built_from", {}),
            verification=data.get("verification", {}),
        )


def compare_files(expected: tuple[FileEntry, ...], actual: Mapping[str, FileEntry]) -> list[str]:
    """Each difference between a manifest's files and what is on disk, as a short sentence."""
    problems = []
    for entry in expected:
        found = actual.get(entry.path)
        if found is None:
            problems.append(f"{entry.path} is missing")
        elif found.size != entry.size:
            problems.append(f"{entry.path} has {found.size} bytes, manifest says {entry.size}")
        elif found.sha256 != entry.sha256:
            problems.append(f"{entry.path} has sha256 {found.sha256[:12]}…, manifest says {entry.sha256[:12]}…")
    return problems
