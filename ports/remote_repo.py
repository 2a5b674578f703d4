from __future__ import annotations

from typing import Protocol

from hubship.domain.hub_sync import RemoteTree


class RemoteRepo(Protocol):
    """Reads a published Hub repo without downloading its weights: the file listing, and small files one by one."""

    def tree(self, repo_id: str, revision: str) -> RemoteTree:
        """The repo at `revision` (branch, tag or commit): its commit and every file's size, git oid and LFS sha256.
        UserInputError when there is no such repo or revision (or it is private to another account)."""
        ...

    def read(self, repo_id: str, path: str, revision: str) -> bytes | None:
        """The content of one small file (a manifest, a config); None when there is none."""
        ...
