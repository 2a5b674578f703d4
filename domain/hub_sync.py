"""What one commit to a Hub repo must change, and whether the repo then holds exactly what was meant.

The Hub identifies an LFS file by the sha256 of its content (the manifest's hash) and a regular file
by its git blob id; both are compared here, with sizes. Pure: the adapter lists the remote files and
hashes the local ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import attrs

REGULAR_MAX_BYTES = 10 * 1024 * 1024  # the Hub stores anything bigger in LFS
KEEP_NAMES = ("README.md", ".gitattributes")


def git_blob_oid(data: bytes) -> str:
    """The git object id of a file's content (the Hub's oid of a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@attrs.frozen(kw_only=True)
class RemoteFile:
    """A file in the repo: `lfs_sha256` for an LFS file, else None; `git_oid` is its blob id."""

    path: str
    size: int
    git_oid: str
    lfs_sha256: str | None = None


@attrs.frozen(kw_only=True)
class RemoteTree:
    """A revision of a repo: the commit it resolved to and every file in it, by path."""

    head: str
    files: dict[str, RemoteFile]


@attrs.frozen(kw_only=True)
class WantedFile:
    """A file the publish puts in the repo. `git_oid` is known for files small enough to be regular."""

    path: str
    size: int
    sha256: str
    git_oid: str | None = None


def matches(remote: RemoteFile | None, wanted: WantedFile) -> bool:
    """Whether the repo already holds exactly `wanted` at its path."""
    if remote is None or remote.size != wanted.size:
        return False
    if remote.lfs_sha256 is not None:
        return remote.lfs_sha256 == wanted.sha256
    return wanted.git_oid is not None and remote.git_oid == wanted.git_oid


@attrs.frozen(kw_only=True)
class Changes:
    send: tuple[WantedFile, ...]
    delete: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.send and not self.delete


def _still_ours(remote: RemoteFile | None, old: WantedFile) -> bool:
    """Whether a file an earlier publish left is still as it left it (so deleting it loses nobody's work)."""
    if remote is None or remote.size != old.size or old.path.rsplit("/", 1)[-1] in KEEP_NAMES:
        return False
    return remote.lfs_sha256 in (None, old.sha256)


def changes(wanted: Iterable[WantedFile], remote: Mapping[str, RemoteFile], stale: Iterable[WantedFile] = ()) -> Changes:
    """Files to send (missing or different) and files to delete.

    `stale` lists what an earlier publish put there (from the manifest it left): such a file is deleted
    when it is no longer wanted and still as that publish left it (e.g. shards of an older sharding).
    A file someone else added, and any README, are never deleted.
    """
    wanted = tuple(wanted)
    keep = {w.path for w in wanted}
    send = tuple(w for w in wanted if not matches(remote.get(w.path), w))
    delete = tuple(sorted({s.path for s in stale if s.path not in keep and _still_ours(remote.get(s.path), s)}))
    return Changes(send=send, delete=delete)


def mismatches(wanted: Iterable[WantedFile], remote: Mapping[str, RemoteFile]) -> list[str]:
    """After a commit: each wanted file the repo lacks or holds differently, as a short sentence."""
    problems = []
    for w in wanted:
        found = remote.get(w.path)
        if found is None:
            problems.append(f"{w.path} is missing")
        elif found.size != w.size:
            problems.append(f"{w.path} has {found.size} bytes, the manifest says {w.size}")
        elif not matches(found, w):
            problems.append(f"{w.path} differs from the manifest's sha256 {w.sha256[:12]}…")
    return problems
