"""The state behind the local Hub stand-in: accounts, repos, commits, refs and a content-addressed object store.

Every mutation happens under one lock and is written to `<data>/state.json` atomically, so a commit is
applied whole or not at all, and a server restarted on the same folder serves the same repos. File
contents (LFS objects and regular files alike) live once in `<data>/objects/<sha256>`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
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
    name: str
    role: str = "write"  # the token's role: "write" or "read"


@dataclass
class Repo:
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


class HubState:
    """Accounts, repos and objects. Methods raise HubError for anything the Hub would refuse."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        for folder in (self.objects, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.tokens: dict[str, Account] = {}
        self.users: set[str] = set()
        self.orgs: dict[str, dict[str, str]] = {}  # org -> {member: role}
        self.repos: dict[str, Repo] = {}
        self._counter = 0
        self._load()

    # ---- accounts -------------------------------------------------------------------------
    def add_user(self, name: str, token: str | None = None, role: str = "write") -> None:
        with self.lock:
            self.users.add(name)
            if token:
                self.tokens[token] = Account(name, role)

    def add_org(self, name: str, members: dict[str, str]) -> None:
        with self.lock:
            self.orgs[name] = dict(members)

    def account(self, token: str | None) -> Account | None:
        """None for no token; HubError 401 for a token the Hub does not know."""
        if token is None:
            return None
        found = self.tokens.get(token)
        if found is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return found

    def namespace_exists(self, name: str) -> bool:
        return name in self.users or name in self.orgs

    def can_write(self, account: Account | None, owner: str) -> bool:
        if account is None or account.role != "write":
            return False
        return owner == account.name or self.orgs.get(owner, {}).get(account.name) in ("write", "admin")

    def can_read(self, account: Account | None, repo: Repo) -> bool:
        if not repo.private:
            return True
        return account is not None and (account.name == repo.owner or account.name in self.orgs.get(repo.owner, {}))

    # ---- repos ----------------------------------------------------------------------------
    def repo(self, repo_id: str, account: Account | None, *, write: bool = False) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or not self.can_read(account, repo):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if write:
            if account is None:
                raise HubError(401, "You must be authenticated to write to a repository")
            if not self.can_write(account, repo.owner):
                raise HubError(403, f"You don't have write access to {repo_id}")
        return repo

    def create_repo(self, repo_id: str, account: Account | None, private: bool) -> Repo:
        owner = repo_id.split("/")[0]
        with self.lock:
            if account is None:
                raise HubError(401, "You must be authenticated to create a repository")
            if not self.namespace_exists(owner):
                raise HubError(404, f"Namespace {owner} does not exist")
            if not self.can_write(account, owner):
                raise HubError(403, f"You don't have the rights to create a model under the namespace {owner}")
            if repo_id in self.repos:
                raise HubError(409, "You already created this model repo")
            repo = Repo(repo_id=repo_id, private=private, created=time.time())
            self.repos[repo_id] = repo
            sha = self.store_bytes(GITATTRIBUTES.encode())
            files = {".gitattributes": self._entry(sha, len(GITATTRIBUTES), lfs=False)}
            oid = self._new_commit(repo, [], files, INITIAL_TITLE, "", account.name)
            repo.branches["main"] = oid
            self.save()
            return repo

    def delete_repo(self, repo_id: str, account: Account | None) -> None:
        with self.lock:
            self.repo(repo_id, account, write=True)
            del self.repos[repo_id]
            self.save()

    # ---- revisions ------------------------------------------------------------------------
    def resolve(self, repo: Repo, revision: str) -> str:
        """A branch, tag, `refs/pr/N` or (prefix of a) commit id -> commit id."""
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.tags:
            return repo.tags[revision]
        match = re.fullmatch(r"refs/pr/(\d+)", revision)
        if match and match.group(1) in repo.prs:
            return repo.prs[match.group(1)]
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            found = [oid for oid in repo.commits if oid.startswith(revision)]
            if len(found) == 1:
                return found[0]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def files(self, repo: Repo, revision: str) -> dict[str, dict[str, Any]]:
        return repo.commits[self.resolve(repo, revision)]["files"]

    def history(self, repo: Repo, revision: str) -> list[dict[str, Any]]:
        """Commits reachable from `revision`, newest first (first-parent chain)."""
        out = []
        oid: str | None = self.resolve(repo, revision)
        while oid:
            commit = repo.commits[oid]
            out.append(commit)
            oid = commit["parents"][0] if commit["parents"] else None
        return out

    def create_ref(self, repo: Repo, kind: str, name: str, start: str) -> None:
        with self.lock:
            refs = repo.branches if kind == "branch" else repo.tags
            if name in repo.branches or name in repo.tags:
                raise HubError(409, f"Reference {name} already exists")
            refs[name] = self.resolve(repo, start)
            self.save()

    def delete_branch(self, repo: Repo, name: str) -> None:
        with self.lock:
            if name not in repo.branches or name == "main":
                raise HubError(404 if name not in repo.branches else 403, f"cannot delete branch {name}")
            del repo.branches[name]
            self.save()

    # ---- objects --------------------------------------------------------------------------
    def object_path(self, sha256: str) -> Path:
        return self.objects / sha256

    def store_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.object_path(sha)
        if not path.exists():
            tmp = self.tmp / f"{sha}.{threading.get_ident()}"
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    def read(self, entry: dict[str, Any]) -> bytes:
        return self.object_path(entry["sha256"]).read_bytes()

    def add_lfs_object(self, repo: Repo, sha256: str, size: int) -> None:
        with self.lock:
            repo.lfs[sha256] = size
            self.save()

    def is_lfs_path(self, repo: Repo, revision: str, path: str, size: int, sample: bytes) -> bool:
        """The Hub's rule: matched by an LFS pattern in .gitattributes, at least 10 MiB, or binary."""
        if size >= LFS_THRESHOLD or b"\x00" in sample:
            return True
        try:
            attrs_entry = self.files(repo, revision).get(".gitattributes")
        except HubError:
            attrs_entry = None
        text = self.read(attrs_entry).decode(errors="replace") if attrs_entry else GITATTRIBUTES
        name = path.rsplit("/", 1)[-1]
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and "filter=lfs" in parts[1:] and (fnmatch.fnmatch(name, parts[0]) or fnmatch.fnmatch(path, parts[0])):
                return True
        return False

    # ---- commits --------------------------------------------------------------------------
    @staticmethod
    def _entry(sha256: str, size: int, *, lfs: bool, content: bytes | None = None) -> dict[str, Any]:
        oid = git_blob_oid(lfs_pointer(sha256, size)) if lfs else git_blob_oid(content if content is not None else b"")
        return {"sha256": sha256, "size": size, "lfs": lfs, "oid": oid}

    def regular_entry(self, data: bytes) -> dict[str, Any]:
        return self._entry(self.store_bytes(data), len(data), lfs=False, content=data)

    def lfs_entry(self, repo: Repo, sha256: str, size: int | None) -> dict[str, Any]:
        stored = repo.lfs.get(sha256)
        if stored is None or not self.object_path(sha256).is_file():
            raise HubError(422, f"LFS object {sha256} was never uploaded to this repo")
        if size is not None and size != stored:
            raise HubError(422, f"LFS object {sha256} has {stored} bytes, the commit says {size}")
        return self._entry(sha256, stored, lfs=True)

    def _new_commit(self, repo: Repo, parents: list[str], files: dict[str, Any], title: str, message: str, author: str) -> str:
        self._counter += 1
        payload = json.dumps([parents, sorted((p, e["oid"]) for p, e in files.items()), title, self._counter, time.time()])
        oid = hashlib.sha1(payload.encode()).hexdigest()
        repo.commits[oid] = {
            "id": oid,
            "parents": parents,
            "title": title,
            "message": message,
            "author": author,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "files": files,
        }
        return oid

    def commit(
        self,
        repo: Repo,
        account: Account,
        revision: str,
        header: dict[str, Any],
        operations: list[tuple[str, dict[str, Any]]],
        *,
        create_pr: bool,
    ) -> tuple[str, str | None]:
        """Apply every operation or none. Returns (commit id, PR number or None)."""
        with self.lock:
            parent_commit = header.get("parentCommit")
            if create_pr:
                if revision not in repo.branches:
                    raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
                base = self.resolve(repo, parent_commit) if parent_commit else repo.branches[revision]
            else:
                head = self.resolve(repo, revision)
                if revision not in repo.branches and not re.fullmatch(r"refs/pr/\d+", revision):
                    raise HubError(400, f"Cannot commit to {revision}: not a branch")
                if parent_commit and not head.startswith(parent_commit.lower()):
                    raise HubError(412, "A commit has happened since. Please refresh and try again.")
                base = head
            files = dict(repo.commits[base]["files"])
            for key, value in operations:
                path = value.get("path", "")
                if key == "file":
                    files[path] = self.regular_entry(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    files[path] = self.lfs_entry(repo, value["oid"], value.get("size"))
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
            oid = self._new_commit(repo, [base], files, header.get("summary") or "update", header.get("description") or "", account.name)
            pr = None
            if create_pr:
                pr = str(len(repo.prs) + 1)
                repo.prs[pr] = oid
            elif revision in repo.branches:
                repo.branches[revision] = oid
            else:
                repo.prs[revision.rsplit("/", 1)[-1]] = oid
            self.save()
            return oid, pr

    # ---- persistence ----------------------------------------------------------------------
    def save(self) -> None:
        with self.lock:
            data = {
                "counter": self._counter,
                "users": sorted(self.users),
                "orgs": self.orgs,
                "tokens": {t: [a.name, a.role] for t, a in self.tokens.items()},
                "repos": {rid: r.__dict__ for rid, r in self.repos.items()},
            }
            tmp = self.root / f".state.{threading.get_ident()}.tmp"
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.root / "state.json")

    def _load(self) -> None:
        path = self.root / "state.json"
        if not path.is_file():
            return
        data = json.loads(path.read_text())
        self._counter = data.get("counter", 0)
        self.users = set(data.get("users", []))
        self.orgs = data.get("orgs", {})
        self.tokens = {t: Account(n, r) for t, (n, r) in data.get("tokens", {}).items()}
        self.repos = {rid: Repo(**r) for rid, r in data.get("repos", {}).items()}
