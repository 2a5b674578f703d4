"""Reading a repo on the Hub: its head commit and file tree (sizes, git oids, LFS sha256), single files and manifests.

A missing file reads as None; any other failure is the session's one-line error.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hubship.adapters.hub.errors import root_cause, status
from hubship.adapters.hub.session import HubSession
from hubship.domain.hub_sync import RemoteFile, RemoteTree
from hubship.domain.manifest import Manifest

__all__ = ["RemoteTree", "read_file", "read_manifest", "read_tree"]


def read_tree(hub: HubSession, repo_id: str, revision: str, missing_ok: bool = False) -> RemoteTree | None:
    """The files of `repo_id` at `revision`; None when the repo is missing (or hidden) and `missing_ok`."""
    from huggingface_hub.hf_api import RepoFile

    try:
        head = hub.call(lambda: hub.api.repo_info(repo_id, revision=revision).sha, repo_id, "reading the repo", explain=False)
        entries = hub.call(
            lambda: list(hub.api.list_repo_tree(repo_id, recursive=True, revision=head)), repo_id, "listing files", explain=False
        )
    except Exception as exc:
        if missing_ok and status(root_cause(exc)) in (401, 404):
            return None
        raise hub.explain(exc, repo_id, "reading the repo") from None
    files = {
        e.path: RemoteFile(path=e.path, size=e.size, git_oid=e.blob_id, lfs_sha256=e.lfs.sha256 if e.lfs else None)
        for e in entries
        if isinstance(e, RepoFile)
    }
    return RemoteTree(head=head, files=files)


def read_file(hub: HubSession, repo_id: str, path: str, revision: str) -> bytes | None:
    """The content of `path` at `revision`; None when there is no such file."""
    with tempfile.TemporaryDirectory(prefix="hubship-hf-") as tmp:
        try:
            local = hub.call(
                lambda: hub.api.hf_hub_download(repo_id, path, revision=revision, cache_dir=tmp), repo_id, f"reading {path}", explain=False
            )
        except Exception as exc:
            if status(root_cause(exc)) == 404:
                return None
            raise hub.explain(exc, repo_id, f"reading {path}") from None
        return Path(local).read_bytes()


def read_manifest(hub: HubSession, repo_id: str, path: str, revision: str) -> Manifest | None:
    """The hubship manifest at `path`; None when it is missing or is not one."""
    text = read_file(hub, repo_id, path, revision)
    try:
        return Manifest.from_json((text or b"").decode())
    except (ValueError, KeyError, TypeError):
        return None
