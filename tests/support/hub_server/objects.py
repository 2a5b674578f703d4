"""The stand-in's object store: every file content once, at `<data>/objects/<sha256>`, and the file entries naming it.

Writes go through `<data>/tmp` and an atomic rename, so an object is whole or absent.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from tests.support.hub_server.model import HubError, Repo, git_blob_oid, lfs_pointer


class ObjectStore:
    """Contents by sha256 (`objects`), with `tmp` for writes in progress."""

    def __init__(self, root: Path) -> None:
        self.objects = root / "objects"
        self.tmp = root / "tmp"
        for folder in (self.objects, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.objects / sha256

    def store_bytes(self, data: bytes) -> str:
        """Keep `data`; returns its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha)
        if not path.exists():
            tmp = self.tmp / f"{sha}.{threading.get_ident()}"
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    def read(self, entry: dict[str, Any]) -> bytes:
        """The content of a file entry."""
        return self.path(entry["sha256"]).read_bytes()

    @staticmethod
    def entry(sha256: str, size: int, *, lfs: bool, content: bytes | None = None) -> dict[str, Any]:
        """A file entry of a commit; its oid is git's id of the content, or of the LFS pointer."""
        oid = git_blob_oid(lfs_pointer(sha256, size)) if lfs else git_blob_oid(content if content is not None else b"")
        return {"sha256": sha256, "size": size, "lfs": lfs, "oid": oid}

    def regular_entry(self, data: bytes) -> dict[str, Any]:
        """Keep `data` as a regular (non-LFS) file."""
        return self.entry(self.store_bytes(data), len(data), lfs=False, content=data)

    def lfs_entry(self, repo: Repo, sha256: str, size: int | None) -> dict[str, Any]:
        """An LFS file of `repo`; HubError 422 unless that object was uploaded to it (with that size)."""
        stored = repo.lfs.get(sha256)
        if stored is None or not self.path(sha256).is_file():
            raise HubError(422, f"LFS object {sha256} was never uploaded to this repo")
        if size is not None and size != stored:
            raise HubError(422, f"LFS object {sha256} has {stored} bytes, the commit says {size}")
        return self.entry(sha256, stored, lfs=True)
