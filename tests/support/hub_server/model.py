"""What the local Hub stand-in is made of: accounts, repos, errors it answers, and git's ways of naming content.

A repo's commits map a commit id to `{id, parents, title, message, author, date, files}`, where `files`
maps a path to `{sha256, size, lfs, oid}` (the content's sha256, the git oid of the blob or LFS pointer).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

LFS_THRESHOLD = 10 * 1024 * 1024
GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z",
        "*.bin",
        "*.bz2",
        "*.ckpt",
        "*.gguf",
        "*.gz",
        "*.h5",
        "*.joblib",
        "*.model",
        "*.msgpack",
        "*.npy",
        "*.npz",
        "*.onnx",
        "*.ot",
        "*.parquet",
        "*.pb",
        "*.pickle",
        "*.pkl",
        "*.pt",
        "*.pth",
        "*.safetensors",
        "*.tar",
        "*.tflite",
        "*.zip",
        "*.zst",
        "*tfevents*",
    )
)
INITIAL_TITLE = "initial commit"


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob (what the Hub calls a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that stands in git for an LFS object."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class HubError(Exception):
    """An HTTP error the handler turns into a JSON answer (`error`) with the Hub's X-Error-* headers."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class Account:
    """Who a token belongs to, and what it may do."""

    name: str
    role: str = "write"  # the token's role: "write" or "read"


@dataclass
class Repo:
    """A model repo: its commits by id, its refs (branches, tags, `refs/pr/N`) and the LFS objects it may use."""

    repo_id: str
    private: bool
    created: float
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[str, str] = field(default_factory=dict)
    lfs: dict[str, int] = field(default_factory=dict)  # LFS objects this repo may reference: sha256 -> size

    @property
    def owner(self) -> str:
        return self.repo_id.split("/")[0]
