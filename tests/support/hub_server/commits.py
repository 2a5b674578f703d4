"""Commits on the stand-in, the way the Hub applies them: every operation or none, checked against `parentCommit`.

Also the Hub's rule for which files of a commit go to LFS.
"""

from __future__ import annotations

import base64
import fnmatch
import re
from typing import Any

from tests.support.hub_server.model import GITATTRIBUTES, LFS_THRESHOLD, Account, HubError, Repo
from tests.support.hub_server.state import HubState


def apply_commit(
    state: HubState,
    repo: Repo,
    account: Account,
    revision: str,
    header: dict[str, Any],
    operations: list[tuple[str, dict[str, Any]]],
    *,
    create_pr: bool,
) -> tuple[str, str | None]:
    """Apply every operation or none. Returns (commit id, PR number or None)."""
    with state.lock:
        parent_commit = header.get("parentCommit")
        if create_pr:
            if revision not in repo.branches:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            base = state.resolve(repo, parent_commit) if parent_commit else repo.branches[revision]
        else:
            head = state.resolve(repo, revision)
            if revision not in repo.branches and not re.fullmatch(r"refs/pr/\d+", revision):
                raise HubError(400, f"Cannot commit to {revision}: not a branch")
            if parent_commit and not head.startswith(parent_commit.lower()):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            base = head
        files = _apply(state, repo, dict(repo.commits[base]["files"]), operations)
        oid = state.new_commit(repo, [base], files, header.get("summary") or "update", header.get("description") or "", account.name)
        pr = None
        if create_pr:
            pr = str(len(repo.prs) + 1)
            repo.prs[pr] = oid
        elif revision in repo.branches:
            repo.branches[revision] = oid
        else:
            repo.prs[revision.rsplit("/", 1)[-1]] = oid
        state.save()
        return oid, pr


def _apply(state: HubState, repo: Repo, files: dict[str, Any], operations: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """`files` after the operations (file, lfsFile, deletedFile, deletedFolder); HubError for any that cannot apply."""
    for key, value in operations:
        path = value.get("path", "")
        if key == "file":
            files[path] = state.store.regular_entry(base64.b64decode(value["content"]))
        elif key == "lfsFile":
            files[path] = state.store.lfs_entry(repo, value["oid"], value.get("size"))
        elif key == "deletedFile":
            if path not in files:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del files[path]
        elif key == "deletedFolder":
            prefix = path.rstrip("/") + "/"
            gone = [p for p in files if p.startswith(prefix)]
            if not gone:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in gone:
                del files[p]
        else:
            raise HubError(400, f"unknown operation {key!r}")
    return files


def is_lfs_path(state: HubState, repo: Repo, revision: str, path: str, size: int, sample: bytes) -> bool:
    """The Hub's rule: matched by an LFS pattern in .gitattributes, at least 10 MiB, or binary."""
    if size >= LFS_THRESHOLD or b"\x00" in sample:
        return True
    try:
        attrs_entry = state.files(repo, revision).get(".gitattributes")
    except HubError:
        attrs_entry = None
    text = state.store.read(attrs_entry).decode(errors="replace") if attrs_entry else GITATTRIBUTES
    name = path.rsplit("/", 1)[-1]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and "filter=lfs" in parts[1:] and (fnmatch.fnmatch(name, parts[0]) or fnmatch.fnmatch(path, parts[0])):
            return True
    return False
