"""Commits: preupload (which files go to LFS, which are regular) and the ndjson commit, applied all or nothing.

A `concurrent_commit` fault lands another writer's commit on the branch just before this one is applied.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from tests.support.hub_server.cards import front_matter
from tests.support.hub_server.commits import apply_commit, is_lfs_path
from tests.support.hub_server.faults import Fault
from tests.support.hub_server.model import Account, HubError
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler


def preupload(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
    state = h.hub.state
    repo = h.repo(ns, name, write=True)
    head = state.resolve(repo, rev)
    files = repo.commits[head]["files"]
    out = []
    for item in h.json_body().get("files", []):
        path, size = item["path"], int(item.get("size", 0))
        lfs = is_lfs_path(state, repo, head, path, size, base64.b64decode(item.get("sample", "")))
        current = files.get(path)
        remote = None if current is None else (current["sha256"] if current["lfs"] else current["oid"])
        out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": remote})
    h.reply_json(200, {"files": out, "commitOid": head})


def commit(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
    state = h.hub.state
    account = h.account()
    repo = state.repo(f"{ns}/{name}", account, write=True)
    assert account is not None
    lines = [json.loads(line) for line in h.body().splitlines() if line.strip()]
    header = next((line["value"] for line in lines if line.get("key") == "header"), None)
    if header is None:
        raise HubError(400, "the commit has no header line")
    operations = [(line["key"], line["value"]) for line in lines if line.get("key") != "header"]
    for key, value in operations:
        if key == "file" and value.get("path") == "README.md":
            front_matter(base64.b64decode(value["content"]).decode(errors="replace"))
    if fault is not None and fault.kind == "concurrent_commit":
        intruder = base64.b64encode(b"a concurrent writer was here\n").decode()
        apply_commit(
            state,
            repo,
            Account("intruder"),
            rev,
            {"summary": "concurrent change"},
            [("file", {"path": "CONCURRENT.md", "content": intruder})],
            create_pr=False,
        )
    create_pr = query.get("create_pr", ["0"])[0] in ("1", "true", "True")
    oid, pr = apply_commit(state, repo, account, rev, header, operations, create_pr=create_pr)
    data = {"success": True, "commitOid": oid, "commitUrl": f"{h.base}/{repo.repo_id}/commit/{oid}"}
    if pr:
        data["pullRequestUrl"] = f"{h.base}/{repo.repo_id}/discussions/{pr}"
    h.reply_json(200, data)


ROUTES = [
    route(r"^/api/models/REPO/preupload/(?P<rev>[^/]+)$", ("POST",), preupload),
    route(r"^/api/models/REPO/commit/(?P<rev>[^/]+)$", ("POST",), commit),
]
