"""A local Hugging Face Hub stand-in that the real `huggingface_hub` client talks to, unmodified.

Point the client at it with `HF_ENDPOINT=<url>` and `HF_HUB_DISABLE_XET=1` (it speaks LFS, not Xet). It
implements the calls a publish makes, the way the Hub answers them: whoami, repo create (private
repos too), repo info, preupload (lfs or regular per file), the LFS batch API with upload and verify
(the sha256 of every upload is checked), the ndjson commit applied all or nothing with `parentCommit`
checks (412), branches, tags and PR refs (`refs/pr/N`), tree listing with LFS oids and sizes, paths
info, file resolve (HEAD and ranged GET, so `snapshot_download` works) and `validate-yaml`. Tokens
are checked: 401 for an unknown token, 403 without write access to another owner, 404 for an owner
that does not exist. Faults (see hub_faults.py) are injected from tests, or over HTTP at
`/_admin/faults`.

By hand: `python -m tests.support.hub_server --port PORT --data DIR` prints its URL and a token, then
serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import socket
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.support.hub_faults import Fault, Faults
from tests.support.hub_state import INITIAL_TITLE, Account, HubError, HubState, Repo, lfs_pointer

RELATIONS = ("adapter", "merge", "quantized", "finetune")
CHUNK = 1 << 20
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"


def new_token() -> str:
    """A random token in the Hub's format (`hf_` + 34 letters and digits)."""
    return "hf_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(34))


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML front matter of a card; None when there is none; HubError 400 when it is invalid."""
    import yaml

    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise HubError(400, f"Invalid YAML in README.md metadata: {exc}".splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HubError(400, "README.md metadata must be a YAML mapping")
    relation = data.get("base_model_relation")
    if relation is not None and relation not in RELATIONS:
        raise HubError(400, f'"base_model_relation" must be one of {", ".join(RELATIONS)}')
    for key in ("tags", "datasets"):
        if key in data and not (isinstance(data[key], list) and all(isinstance(t, str) for t in data[key])):
            raise HubError(400, f'"{key}" must be a list of strings')
    return data


class HubServer:
    """The server: `url`, `state` (repos, commits, objects), `faults`, and what it received (`uploads`, `requests`)."""

    def __init__(self, data_dir: Path | str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = HubState(Path(data_dir))
        self.faults = Faults()
        self.uploads: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []
        self._secret = secrets.token_bytes(16)
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # ---- set-up from tests ----------------------------------------------------------------
    def add_user(self, name: str, token: str | None = None, role: str = "write") -> None:
        self.state.add_user(name, token, role)

    def add_org(self, name: str, members: dict[str, str]) -> None:
        self.state.add_org(name, members)

    def add_fault(self, kind: str, **spec: Any) -> Fault:
        return self.faults.add(kind=kind, **spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- what tests inspect ---------------------------------------------------------------
    def commits(self, repo_id: str, revision: str = "main") -> list[dict[str, Any]]:
        """Commits on `revision` after the repo's initial one, oldest first."""
        repo = self.state.repos[repo_id]
        return [c for c in reversed(self.state.history(repo, revision)) if c["title"] != INITIAL_TITLE or c["parents"]]

    def files(self, repo_id: str, revision: str = "main") -> dict[str, dict[str, Any]]:
        repo = self.state.repos[repo_id]
        return self.state.files(repo, revision)

    def file_bytes(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        return self.state.read(self.files(repo_id, revision)[path])

    def completed_uploads(self, repo_id: str | None = None) -> list[str]:
        return [u["oid"] for u in self.uploads if u["completed"] and (repo_id is None or u["repo"] == repo_id)]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the hub server never reached the expected state")
            time.sleep(0.05)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self.faults.clear()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def sign(self, repo_id: str, oid: str) -> str:
        return hmac.new(self._secret, f"{repo_id}:{oid}".encode(), hashlib.sha256).hexdigest()


def _handler_for(server: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_HubHandler):
        hub = server

    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms wait between headers and body

    def log_message(self, format: str, *args: Any) -> None:  # quiet; `requests` keeps a log without headers
        return

    # ---- plumbing -------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def base(self) -> str:
        return self.hub.url

    def _length(self) -> int:
        return int(self.headers.get("Content-Length") or 0)

    def _chunks(self) -> Iterator[bytes]:
        """The request body, in pieces (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        remaining = self._length()
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise ConnectionError("client went away")
            remaining -= len(chunk)
            yield chunk

    def _body(self) -> bytes:
        if not hasattr(self, "_cached_body"):
            self._cached_body = b"".join(self._chunks())
        return self._cached_body

    def _json_body(self) -> Any:
        body = self._body()
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise HubError(400, "the body is not JSON") from None

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hub.requests.append((self.command, urlsplit(self.path).path, status))

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
        self._send(status, json.dumps(data).encode(), headers, content_type)

    def _error(self, status: int, message: str, code: str | None = None, extra: dict[str, str] | None = None) -> None:
        headers = {"X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _drop(self) -> None:
        """Close the connection without an answer, as a broken network would."""
        self.hub.faults.dropped += 1
        self.close_connection = True
        self.hub.requests.append((self.command, urlsplit(self.path).path, 0))
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stall_then_drop(self) -> None:
        self.hub.faults.stalled += 1
        self.hub.faults.released.wait(timeout=600)
        self._drop()

    def _account(self) -> Account | None:
        auth = self.headers.get("Authorization") or self.headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        return self.hub.state.account(token)

    def _dispatch(self, method: str) -> None:
        self.__dict__.pop("_cached_body", None)  # one handler serves every request of a kept-alive connection
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        fault = self.hub.faults.take(method, path, self._length())
        try:
            if fault is not None and fault.kind == "status":
                if self._length() <= 16 * CHUNK:
                    self._body()
                else:
                    self.close_connection = True
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                self._error(fault.status, f"injected HTTP {fault.status}", extra=headers)
                return
            if fault is not None and fault.kind in ("drop", "stall") and not path.startswith("/_lfs/"):
                for _ in self._chunks():
                    break
                self._stall_then_drop() if fault.kind == "stall" else self._drop()
                return
            for pattern, methods, handler in ROUTES:
                match = pattern.match(path)
                if match and method in methods:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    if fault is not None and fault.kind == "after":
                        self._send_after(fault, lambda h=handler, p=params: h(self, method, query, fault, **p))
                    else:
                        handler(self, method, query, fault, **params)
                    return
            self._error(404, f"no route for {method} {path}")
        except HubError as exc:
            self._discard_body(path)
            self._error(exc.status, exc.message, exc.code)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def _discard_body(self, path: str) -> None:
        """Read what is left of a refused request's body, or close the connection after answering."""
        if hasattr(self, "_cached_body"):
            return
        if path.startswith("/_lfs/") or self._length() > 16 * CHUNK:
            self.close_connection = True
        else:
            self._body()

    def _send_after(self, fault: Fault, work: Callable[[], None]) -> None:
        """Do the work but swallow its answer, then answer the fault's status (a lost response)."""
        real_send = self._send
        self._send = lambda *a, **k: None  # type: ignore[method-assign]
        try:
            work()
        finally:
            self._send = real_send  # type: ignore[method-assign]
        self._error(fault.status, f"injected HTTP {fault.status} after the work was done", extra={"Retry-After": fault.retry_after or "0"})

    def _repo_id(self, ns: str, name: str) -> str:
        return f"{ns}/{name}"

    # ---- account endpoints ----------------------------------------------------------------
    def whoami(self, method: str, query: dict, fault: Fault | None) -> None:
        account = self._account()
        if account is None:
            raise HubError(401, "You must be authenticated")
        orgs = [
            {"type": "org", "name": org, "roleInOrg": members[account.name]}
            for org, members in self.hub.state.orgs.items()
            if account.name in members
        ]
        self._json(
            200,
            {
                "type": "user",
                "id": hashlib.sha1(account.name.encode()).hexdigest()[:24],
                "name": account.name,
                "fullname": account.name,
                "orgs": orgs,
                "auth": {"type": "access_token", "accessToken": {"displayName": "local", "role": account.role}},
            },
        )

    def user_overview(self, method: str, query: dict, fault: Fault | None, user: str) -> None:
        if user not in self.hub.state.users:
            raise HubError(404, f"User {user} not found")
        self._json(200, {"user": user, "fullname": user, "avatarUrl": "", "type": "user", "isPro": False})

    def org_overview(self, method: str, query: dict, fault: Fault | None, org: str) -> None:
        if org not in self.hub.state.orgs:
            raise HubError(404, f"Organization {org} not found")
        self._json(200, {"name": org, "fullname": org, "avatarUrl": "", "type": "org", "numUsers": len(self.hub.state.orgs[org])})

    # ---- repos ----------------------------------------------------------------------------
    def create_repo(self, method: str, query: dict, fault: Fault | None) -> None:
        payload = self._json_body()
        account = self._account()
        if payload.get("type") not in (None, "model"):
            raise HubError(400, "this local hub serves model repos only")
        name = payload.get("name") or ""
        owner = payload.get("organization") or (account.name if account else "")
        repo_id = f"{owner}/{name}"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name):
            raise HubError(400, f"Invalid repo name {name!r}")
        private = payload.get("visibility") == "private" or payload.get("private") is True
        try:
            self.hub.state.create_repo(repo_id, account, private)
        except HubError as exc:
            if exc.status == 409:
                self._json(409, {"error": exc.message, "url": f"{self.base}/{repo_id}"}, {"X-Error-Message": exc.message})
                return
            raise
        self._json(200, {"url": f"{self.base}/{repo_id}", "name": repo_id, "id": repo_id})

    def delete_repo(self, method: str, query: dict, fault: Fault | None) -> None:
        payload = self._json_body()
        account = self._account()
        owner = payload.get("organization") or (account.name if account else "")
        self.hub.state.delete_repo(f"{owner}/{payload.get('name')}", account)
        self._json(200, {})

    def settings(self, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
        payload = self._json_body()
        repo = self.hub.state.repo(self._repo_id(ns, name), self._account(), write=True)
        with self.hub.state.lock:
            if "private" in payload:
                repo.private = bool(payload["private"])
            if "visibility" in payload:
                repo.private = payload["visibility"] == "private"
            self.hub.state.save()
        self._json(200, {})

    def _card_data(self, repo: Repo, oid: str) -> dict[str, Any] | None:
        entry = repo.commits[oid]["files"].get("README.md")
        if entry is None:
            return None
        try:
            return front_matter(self.hub.state.read(entry).decode(errors="replace"))
        except HubError:
            return None

    def model_info(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str = "main") -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account())
        oid = state.resolve(repo, rev)
        commit = repo.commits[oid]
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path, entry in sorted(commit["files"].items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if entry["lfs"]:
                    sibling["lfs"] = {
                        "size": entry["size"],
                        "sha256": entry["sha256"],
                        "pointerSize": len(lfs_pointer(entry["sha256"], entry["size"])),
                    }
            siblings.append(sibling)
        card = self._card_data(repo, oid) or {}
        self._json(
            200,
            {
                "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "author": repo.owner,
                "sha": oid,
                "lastModified": commit["date"],
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(repo.created)),
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": card.get("tags") or [],
                "pipeline_tag": card.get("pipeline_tag"),
                "library_name": card.get("library_name"),
                "cardData": card or None,
                "siblings": siblings,
            },
        )

    def refs(self, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
        repo = self.hub.state.repo(self._repo_id(ns, name), self._account())

        def ref(name: str, full: str, oid: str) -> dict[str, str]:
            return {"name": name, "ref": full, "targetCommit": oid}

        data: dict[str, Any] = {
            "branches": [ref(b, f"refs/heads/{b}", o) for b, o in sorted(repo.branches.items())],
            "converts": [],
            "tags": [ref(t, f"refs/tags/{t}", o) for t, o in sorted(repo.tags.items())],
        }
        if query.get("include_prs"):
            data["pullRequests"] = [ref(f"refs/pr/{n}", f"refs/pr/{n}", o) for n, o in sorted(repo.prs.items())]
        self._json(200, data)

    def commits(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
        repo = self.hub.state.repo(self._repo_id(ns, name), self._account())
        self._json(
            200,
            [
                {"id": c["id"], "title": c["title"], "message": c["message"], "authors": [{"user": c["author"]}], "date": c["date"]}
                for c in self.hub.state.history(repo, rev)
            ],
        )

    def branch(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, branch: str) -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account(), write=True)
        if method == "DELETE":
            state.delete_branch(repo, branch)
        else:
            state.create_ref(repo, "branch", branch, self._json_body().get("startingPoint") or "main")
        self._json(200, {})

    def tag(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account(), write=True)
        payload = self._json_body()
        state.create_ref(repo, "tag", str(payload.get("tag") or ""), rev)
        self._json(200, {})

    # ---- files ----------------------------------------------------------------------------
    def _tree_entry(self, repo: Repo, rev_oid: str, path: str, entry: dict[str, Any], expand: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
        if entry["lfs"]:
            item["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": len(lfs_pointer(entry["sha256"], entry["size"]))}
        if expand:
            item["lastCommit"] = self._last_commit(repo, rev_oid, path)
        return item

    def _last_commit(self, repo: Repo, rev_oid: str, path: str) -> dict[str, str]:
        history = self.hub.state.history(repo, rev_oid)
        last = history[0]
        for newer, older in itertools.pairwise(history):
            if newer["files"].get(path, {}).get("oid") != older["files"].get(path, {}).get("oid"):
                last = newer
                break
            last = older
        return {"id": last["id"], "title": last["title"], "date": last["date"]}

    def _listing(self, repo: Repo, oid: str, prefix: str, recursive: bool, expand: bool) -> list[dict[str, Any]]:
        files = repo.commits[oid]["files"]
        prefix = prefix.strip("/")
        under = prefix + "/" if prefix else ""
        if prefix and not any(p.startswith(under) for p in files):
            raise HubError(404, f"{prefix} does not exist", "EntryNotFound")
        entries: dict[str, dict[str, Any]] = {}
        for path, entry in files.items():
            if not path.startswith(under):
                continue
            parts = path[len(under) :].split("/")
            dirs = range(1, len(parts)) if recursive else range(1, min(len(parts), 2))
            for i in dirs:
                folder = under + "/".join(parts[:i])
                entries[folder] = {
                    "type": "directory",
                    "oid": hashlib.sha1(f"{oid}:{folder}".encode()).hexdigest(),
                    "size": 0,
                    "path": folder,
                }
            if recursive or len(parts) == 1:
                entries[path] = self._tree_entry(repo, oid, path, entry, expand)
        return [entries[k] for k in sorted(entries)]

    def tree(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str, path: str = "") -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account())
        oid = state.resolve(repo, rev)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        expand = query.get("expand", ["false"])[0].lower() == "true"
        listing = self._listing(repo, oid, path, recursive, expand)
        page = 50 if expand else 1000
        start = int(query.get("cursor", ["0"])[0])
        headers = {}
        if start + page < len(listing):
            params = urlencode({"recursive": str(recursive), "expand": str(expand), "cursor": start + page})
            headers["Link"] = f'<{self.base}{urlsplit(self.path).path}?{params}>; rel="next"'
        self._json(200, listing[start : start + page], headers)

    def paths_info(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account())
        oid = state.resolve(repo, rev)
        form = parse_qs(self._body().decode())
        expand = form.get("expand", ["false"])[0].lower() == "true"
        files = repo.commits[oid]["files"]
        out = []
        for path in form.get("paths", []):
            if path in files:
                out.append(self._tree_entry(repo, oid, path, files[path], expand))
            elif any(p.startswith(path.rstrip("/") + "/") for p in files):
                out.append({"type": "directory", "oid": hashlib.sha1(f"{oid}:{path}".encode()).hexdigest(), "path": path})
        self._json(200, out)

    def resolve_file(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str, path: str) -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account())
        oid = state.resolve(repo, rev)
        entry = repo.commits[oid]["files"].get(path)
        if entry is None:
            self._error(404, f"{path} does not exist at {rev}", "EntryNotFound", {"X-Repo-Commit": oid})
            return
        size = entry["size"]
        etag = entry["sha256"] if entry["lfs"] else entry["oid"]
        headers = {"X-Repo-Commit": oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if entry["lfs"]:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        start, status = 0, 200
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
        if match and int(match.group(1)) < size:
            start, status = int(match.group(1)), 206
            headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method == "GET" and size > start:
            with state.object_path(entry["sha256"]).open("rb") as fh:
                self.connection.sendfile(fh, offset=start, count=size - start)
        self.hub.requests.append((method, urlsplit(self.path).path, status))

    def validate_yaml(self, method: str, query: dict, fault: Fault | None) -> None:
        payload = self._json_body()
        try:
            data = front_matter(str(payload.get("content", "")))
        except HubError as exc:
            self._json(400, {"errors": [{"message": exc.message}], "warnings": []}, {"X-Error-Message": exc.message})
            return
        warnings = [] if data else [{"message": "Empty or missing yaml metadata in repo card"}]
        self._json(200, {"errors": [], "warnings": warnings})

    # ---- uploads and commits --------------------------------------------------------------
    def preupload(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
        state = self.hub.state
        repo = state.repo(self._repo_id(ns, name), self._account(), write=True)
        head = state.resolve(repo, rev)
        files = repo.commits[head]["files"]
        out = []
        for item in self._json_body().get("files", []):
            path, size = item["path"], int(item.get("size", 0))
            lfs = state.is_lfs_path(repo, head, path, size, base64.b64decode(item.get("sample", "")))
            current = files.get(path)
            remote = None if current is None else (current["sha256"] if current["lfs"] else current["oid"])
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": remote})
        self._json(200, {"files": out, "commitOid": head})

    def lfs_batch(self, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
        state = self.hub.state
        repo_id = self._repo_id(ns, name)
        repo = state.repo(repo_id, self._account(), write=True)
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HubError(400, "only uploads are supported")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = str(obj.get("oid", "")), int(obj.get("size", -1))
            if not re.fullmatch(r"[0-9a-f]{64}", oid) or size < 0:
                objects.append({"oid": oid, "size": max(size, 0), "error": {"code": 422, "message": "invalid oid or size"}})
            elif repo.lfs.get(oid) == size and state.object_path(oid).is_file():
                objects.append({"oid": oid, "size": size})
            else:
                href = f"{self.base}/_lfs/{repo_id}/{oid}?sig={self.hub.sign(repo_id, oid)}"
                verify = f"{self.base}/{repo_id}.git/info/lfs/objects/verify"
                objects.append(
                    {"oid": oid, "size": size, "authenticated": True, "actions": {"upload": {"href": href}, "verify": {"href": verify}}}
                )
        self._json(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, oid: str) -> None:
        state = self.hub.state
        repo_id = self._repo_id(ns, name)
        if not hmac.compare_digest(query.get("sig", [""])[0], self.hub.sign(repo_id, oid)) or repo_id not in state.repos:
            self.close_connection = True
            raise HubError(403, "invalid or expired upload URL")
        record = {"repo": repo_id, "oid": oid, "size": self._length(), "received": 0, "completed": False}
        self.hub.uploads.append(record)
        tmp = state.tmp / f"{oid}.{threading.get_ident()}.part"
        digest = hashlib.sha256()
        try:
            with tmp.open("wb") as fh:
                for chunk in self._chunks():
                    if fault is not None and fault.kind in ("drop", "stall") and record["received"] + len(chunk) >= fault.after_bytes:
                        record["received"] = fault.after_bytes
                        self._stall_then_drop() if fault.kind == "stall" else self._drop()
                        return
                    digest.update(chunk)
                    fh.write(chunk)
                    record["received"] += len(chunk)
            if digest.hexdigest() != oid:
                self.close_connection = True
                raise HubError(400, f"sha256 mismatch: the upload hashes to {digest.hexdigest()}, not {oid}")
            os.replace(tmp, state.object_path(oid))
        finally:
            tmp.unlink(missing_ok=True)
        state.add_lfs_object(state.repos[repo_id], oid, record["received"])
        record["completed"] = True
        self._json(200, {})

    def lfs_verify(self, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
        repo = self.hub.state.repo(self._repo_id(ns, name), self._account(), write=True)
        payload = self._json_body()
        if repo.lfs.get(payload.get("oid", "")) != payload.get("size"):
            raise HubError(404, "object not found or of another size")
        self._json(200, {"message": "Object verified"})

    def commit(self, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
        state = self.hub.state
        account = self._account()
        repo = state.repo(self._repo_id(ns, name), account, write=True)
        assert account is not None
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line.get("key") == "header"), None)
        if header is None:
            raise HubError(400, "the commit has no header line")
        operations = [(line["key"], line["value"]) for line in lines if line.get("key") != "header"]
        for key, value in operations:
            if key == "file" and value.get("path") == "README.md":
                front_matter(base64.b64decode(value["content"]).decode(errors="replace"))
        if fault is not None and fault.kind == "concurrent_commit":
            intruder = base64.b64encode(b"a concurrent writer was here\n").decode()
            state.commit(
                repo,
                Account("intruder"),
                rev,
                {"summary": "concurrent change"},
                [("file", {"path": "CONCURRENT.md", "content": intruder})],
                create_pr=False,
            )
        create_pr = query.get("create_pr", ["0"])[0] in ("1", "true", "True")
        oid, pr = state.commit(repo, account, rev, header, operations, create_pr=create_pr)
        data = {"success": True, "commitOid": oid, "commitUrl": f"{self.base}/{repo.repo_id}/commit/{oid}"}
        if pr:
            data["pullRequestUrl"] = f"{self.base}/{repo.repo_id}/discussions/{pr}"
        self._json(200, data)

    # ---- admin (for tests that run the server in another process) ---------------------------
    def admin_faults(self, method: str, query: dict, fault: Fault | None) -> None:
        if method == "DELETE":
            self.hub.clear_faults()
        else:
            spec = self._json_body()
            self.hub.add_fault(spec.pop("kind"), **spec)
        self._json(200, {})

    def admin_stats(self, method: str, query: dict, fault: Fault | None) -> None:
        repos = {rid: len(self.hub.commits(rid)) for rid in self.hub.state.repos}
        self._json(
            200, {"uploads": self.hub.uploads, "commits": repos, "dropped": self.hub.faults.dropped, "stalled": self.hub.faults.stalled}
        )


def _route(
    pattern: str, methods: tuple[str, ...], handler: Callable[..., None]
) -> tuple[re.Pattern[str], tuple[str, ...], Callable[..., None]]:
    return re.compile(pattern.replace("REPO", _REPO)), methods, handler


H = _HubHandler
ROUTES = [
    _route(r"^/api/whoami-v2$", ("GET",), H.whoami),
    _route(r"^/api/users/(?P<user>[^/]+)/overview$", ("GET",), H.user_overview),
    _route(r"^/api/organizations/(?P<org>[^/]+)/overview$", ("GET",), H.org_overview),
    _route(r"^/api/repos/create$", ("POST",), H.create_repo),
    _route(r"^/api/repos/delete$", ("DELETE",), H.delete_repo),
    _route(r"^/api/validate-yaml$", ("POST",), H.validate_yaml),
    _route(r"^/api/models/REPO/preupload/(?P<rev>[^/]+)$", ("POST",), H.preupload),
    _route(r"^/api/models/REPO/commit/(?P<rev>[^/]+)$", ("POST",), H.commit),
    _route(r"^/api/models/REPO/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", ("GET",), H.tree),
    _route(r"^/api/models/REPO/paths-info/(?P<rev>[^/]+)$", ("POST",), H.paths_info),
    _route(r"^/api/models/REPO/refs$", ("GET",), H.refs),
    _route(r"^/api/models/REPO/commits/(?P<rev>[^/]+)$", ("GET",), H.commits),
    _route(r"^/api/models/REPO/branch/(?P<branch>[^/]+)$", ("POST", "DELETE"), H.branch),
    _route(r"^/api/models/REPO/tag/(?P<rev>[^/]+)$", ("POST",), H.tag),
    _route(r"^/api/models/REPO/settings$", ("PUT",), H.settings),
    _route(r"^/api/models/REPO/revision/(?P<rev>[^/]+)$", ("GET",), H.model_info),
    _route(r"^/api/models/REPO$", ("GET",), H.model_info),
    _route(r"^/REPO\.git/info/lfs/objects/batch$", ("POST",), H.lfs_batch),
    _route(r"^/REPO\.git/info/lfs/objects/verify$", ("POST",), H.lfs_verify),
    _route(r"^/_lfs/REPO/(?P<oid>[0-9a-f]{64})$", ("PUT",), H.lfs_upload),
    _route(r"^/_admin/faults$", ("POST", "DELETE"), H.admin_faults),
    _route(r"^/_admin/stats$", ("GET",), H.admin_stats),
    _route(r"^/REPO/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", ("GET", "HEAD"), H.resolve_file),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.hub_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data", required=True, type=Path, help="folder for repos and objects (kept across restarts)")
    parser.add_argument("--user", default="user", help="the account the printed token belongs to")
    parser.add_argument("--token", default=None, help="that account's token (default: a new random one)")
    parser.add_argument("--org", action="append", default=[], help="an organization the user can write to; repeatable")
    args = parser.parse_args(argv)
    server = HubServer(args.data, args.host, args.port)
    token = args.token or new_token()
    server.add_user(args.user, token)
    for org in args.org:
        server.add_org(org, {args.user: "write"})
    print(server.url, flush=True)
    print(f"token for {args.user}: {token}  (use: HF_ENDPOINT={server.url} HF_TOKEN=... HF_HUB_DISABLE_XET=1)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
