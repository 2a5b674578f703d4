"""Files: tree listing (paged, with LFS oids, sizes and last commits), paths info, file resolve, `validate-yaml`.

Resolve answers HEAD and ranged GET with the Hub's headers (X-Repo-Commit, ETag, X-Linked-*), so
`hf_hub_download` and `snapshot_download` work against it.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.hub_server.cards import front_matter
from tests.support.hub_server.faults import Fault
from tests.support.hub_server.model import HubError, Repo, lfs_pointer
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler
    from tests.support.hub_server.state import HubState


def _tree_entry(state: HubState, repo: Repo, rev_oid: str, path: str, entry: dict[str, Any], expand: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
    if entry["lfs"]:
        item["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": len(lfs_pointer(entry["sha256"], entry["size"]))}
    if expand:
        item["lastCommit"] = _last_commit(state, repo, rev_oid, path)
    return item


def _last_commit(state: HubState, repo: Repo, rev_oid: str, path: str) -> dict[str, str]:
    history = state.history(repo, rev_oid)
    last = history[0]
    for newer, older in itertools.pairwise(history):
        if newer["files"].get(path, {}).get("oid") != older["files"].get(path, {}).get("oid"):
            last = newer
            break
        last = older
    return {"id": last["id"], "title": last["title"], "date": last["date"]}


def _folder(oid: str, folder: str) -> dict[str, Any]:
    return {"type": "directory", "oid": hashlib.sha1(f"{oid}:{folder}".encode()).hexdigest(), "size": 0, "path": folder}


def _listing(state: HubState, repo: Repo, oid: str, prefix: str, recursive: bool, expand: bool) -> list[dict[str, Any]]:
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
            entries[folder] = _folder(oid, folder)
        if recursive or len(parts) == 1:
            entries[path] = _tree_entry(state, repo, oid, path, entry, expand)
    return [entries[k] for k in sorted(entries)]


def tree(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str, path: str = "") -> None:
    repo = h.repo(ns, name)
    oid = h.hub.state.resolve(repo, rev)
    recursive = query.get("recursive", ["false"])[0].lower() == "true"
    expand = query.get("expand", ["false"])[0].lower() == "true"
    listing = _listing(h.hub.state, repo, oid, path, recursive, expand)
    page = 50 if expand else 1000
    start = int(query.get("cursor", ["0"])[0])
    headers = {}
    if start + page < len(listing):
        params = urlencode({"recursive": str(recursive), "expand": str(expand), "cursor": start + page})
        headers["Link"] = f'<{h.base}{urlsplit(h.path).path}?{params}>; rel="next"'
    h.reply_json(200, listing[start : start + page], headers)


def paths_info(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
    repo = h.repo(ns, name)
    oid = h.hub.state.resolve(repo, rev)
    form = parse_qs(h.body().decode())
    expand = form.get("expand", ["false"])[0].lower() == "true"
    files = repo.commits[oid]["files"]
    out = []
    for path in form.get("paths", []):
        if path in files:
            out.append(_tree_entry(h.hub.state, repo, oid, path, files[path], expand))
        elif any(p.startswith(path.rstrip("/") + "/") for p in files):
            out.append({"type": "directory", "oid": hashlib.sha1(f"{oid}:{path}".encode()).hexdigest(), "path": path})
    h.reply_json(200, out)


def resolve_file(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str, path: str) -> None:
    state = h.hub.state
    repo = h.repo(ns, name)
    oid = state.resolve(repo, rev)
    entry = repo.commits[oid]["files"].get(path)
    if entry is None:
        h.reply_error(404, f"{path} does not exist at {rev}", "EntryNotFound", {"X-Repo-Commit": oid})
        return
    size = entry["size"]
    etag = entry["sha256"] if entry["lfs"] else entry["oid"]
    headers = {"X-Repo-Commit": oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
    if entry["lfs"]:
        headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
    start, status = 0, 200
    match = re.match(r"bytes=(\d+)-$", h.headers.get("Range", ""))
    if match and int(match.group(1)) < size:
        start, status = int(match.group(1)), 206
        headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
    h.send_response(status)
    h.send_header("Content-Type", "application/octet-stream")
    h.send_header("Content-Length", str(size - start))
    for key, value in headers.items():
        h.send_header(key, value)
    h.end_headers()
    if method == "GET" and size > start:
        with state.store.path(entry["sha256"]).open("rb") as fh:
            h.connection.sendfile(fh, offset=start, count=size - start)
    h.hub.requests.append((method, urlsplit(h.path).path, status))


def validate_yaml(h: HubHandler, method: str, query: dict, fault: Fault | None) -> None:
    payload = h.json_body()
    try:
        data = front_matter(str(payload.get("content", "")))
    except HubError as exc:
        h.reply_json(400, {"errors": [{"message": exc.message}], "warnings": []}, {"X-Error-Message": exc.message})
        return
    warnings = [] if data else [{"message": "Empty or missing yaml metadata in repo card"}]
    h.reply_json(200, {"errors": [], "warnings": warnings})


ROUTES = [
    route(r"^/api/validate-yaml$", ("POST",), validate_yaml),
    route(r"^/api/models/REPO/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", ("GET",), tree),
    route(r"^/api/models/REPO/paths-info/(?P<rev>[^/]+)$", ("POST",), paths_info),
]
RESOLVE = route(r"^/REPO/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", ("GET", "HEAD"), resolve_file)
