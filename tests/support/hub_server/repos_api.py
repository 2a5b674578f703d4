"""Repos: create (private too), delete, settings (visibility), and the model info with its card data and files."""

from __future__ import annotations

import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from tests.support.hub_server.cards import front_matter
from tests.support.hub_server.faults import Fault
from tests.support.hub_server.model import HubError, Repo, lfs_pointer
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler


def create_repo(h: HubHandler, method: str, query: dict, fault: Fault | None) -> None:
    payload = h.json_body()
    account = h.account()
    if payload.get("type") not in (None, "model"):
        raise HubError(400, "this local hub serves model repos only")
    name = payload.get("name") or ""
    owner = payload.get("organization") or (account.name if account else "")
    repo_id = f"{owner}/{name}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", name):
        raise HubError(400, f"Invalid repo name {name!r}")
    private = payload.get("visibility") == "private" or payload.get("private") is True
    try:
        h.hub.state.create_repo(repo_id, account, private)
    except HubError as exc:
        if exc.status == 409:
            h.reply_json(409, {"error": exc.message, "url": f"{h.base}/{repo_id}"}, {"X-Error-Message": exc.message})
            return
        raise
    h.reply_json(200, {"url": f"{h.base}/{repo_id}", "name": repo_id, "id": repo_id})


def delete_repo(h: HubHandler, method: str, query: dict, fault: Fault | None) -> None:
    payload = h.json_body()
    account = h.account()
    owner = payload.get("organization") or (account.name if account else "")
    h.hub.state.delete_repo(f"{owner}/{payload.get('name')}", account)
    h.reply_json(200, {})


def settings(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
    payload = h.json_body()
    repo = h.repo(ns, name, write=True)
    with h.hub.state.lock:
        if "private" in payload:
            repo.private = bool(payload["private"])
        if "visibility" in payload:
            repo.private = payload["visibility"] == "private"
        h.hub.state.save()
    h.reply_json(200, {})


def _card_data(h: HubHandler, repo: Repo, oid: str) -> dict[str, Any] | None:
    entry = repo.commits[oid]["files"].get("README.md")
    if entry is None:
        return None
    try:
        return front_matter(h.hub.state.store.read(entry).decode(errors="replace"))
    except HubError:
        return None


def _siblings(files: dict[str, dict[str, Any]], blobs: bool) -> list[dict[str, Any]]:
    siblings = []
    for path, entry in sorted(files.items()):
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
    return siblings


def model_info(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str = "main") -> None:
    repo = h.repo(ns, name)
    oid = h.hub.state.resolve(repo, rev)
    commit = repo.commits[oid]
    siblings = _siblings(commit["files"], query.get("blobs", ["false"])[0].lower() == "true")
    card = _card_data(h, repo, oid) or {}
    h.reply_json(
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


ROUTES = [
    route(r"^/api/repos/create$", ("POST",), create_repo),
    route(r"^/api/repos/delete$", ("DELETE",), delete_repo),
    route(r"^/api/models/REPO/settings$", ("PUT",), settings),
    route(r"^/api/models/REPO/revision/(?P<rev>[^/]+)$", ("GET",), model_info),
    route(r"^/api/models/REPO$", ("GET",), model_info),
]
