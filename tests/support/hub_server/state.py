"""The state behind the local Hub stand-in: accounts, repos, their commits and refs, over a content-addressed store.

Every mutation happens under one lock and is written to `<data>/state.json` atomically, so a commit is
applied whole or not at all (see commits.py), and a server restarted on the same folder serves the same
repos. File contents (LFS objects and regular files alike) live once in `<data>/objects/<sha256>`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.hub_server.model import GITATTRIBUTES, INITIAL_TITLE, Account, HubError, Repo
from tests.support.hub_server.objects import ObjectStore


class HubState:
    """Accounts, repos and objects (`store`; `objects` is its folder). Methods raise HubError for anything the Hub would refuse."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir)
        self.store = ObjectStore(self.root)
        self.objects = self.store.objects
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
            sha = self.store.store_bytes(GITATTRIBUTES.encode())
            files = {".gitattributes": self.store.entry(sha, len(GITATTRIBUTES), lfs=False)}
            oid = self.new_commit(repo, [], files, INITIAL_TITLE, "", account.name)
            repo.branches["main"] = oid
            self.save()
            return repo

    def delete_repo(self, repo_id: str, account: Account | None) -> None:
        with self.lock:
            self.repo(repo_id, account, write=True)
            del self.repos[repo_id]
            self.save()

    def add_lfs_object(self, repo: Repo, sha256: str, size: int) -> None:
        """Let `repo` reference the uploaded object `sha256`."""
        with self.lock:
            repo.lfs[sha256] = size
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

    def new_commit(self, repo: Repo, parents: list[str], files: dict[str, Any], title: str, message: str, author: str) -> str:
        """Record a commit in `repo` (no ref moves); returns its id. Call under the lock."""
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
