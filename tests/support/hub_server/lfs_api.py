"""The LFS protocol: the batch API (objects the repo already holds need no upload), uploads to signed URLs, verify.

Every upload is hashed as it arrives and refused (400) unless its sha256 is its oid; `drop` and `stall`
faults on `/_lfs/` cut an upload after `after_bytes`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from typing import TYPE_CHECKING

from tests.support.hub_server.faults import Fault
from tests.support.hub_server.model import HubError
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler


def lfs_batch(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
    state = h.hub.state
    repo_id = f"{ns}/{name}"
    repo = h.repo(ns, name, write=True)
    payload = h.json_body()
    if payload.get("operation") != "upload":
        raise HubError(400, "only uploads are supported")
    objects = []
    for obj in payload.get("objects", []):
        oid, size = str(obj.get("oid", "")), int(obj.get("size", -1))
        if not re.fullmatch(r"[0-9a-f]{64}", oid) or size < 0:
            objects.append({"oid": oid, "size": max(size, 0), "error": {"code": 422, "message": "invalid oid or size"}})
        elif repo.lfs.get(oid) == size and state.store.path(oid).is_file():
            objects.append({"oid": oid, "size": size})
        else:
            href = f"{h.base}/_lfs/{repo_id}/{oid}?sig={h.hub.sign(repo_id, oid)}"
            verify = f"{h.base}/{repo_id}.git/info/lfs/objects/verify"
            objects.append(
                {"oid": oid, "size": size, "authenticated": True, "actions": {"upload": {"href": href}, "verify": {"href": verify}}}
            )
    h.reply_json(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, content_type="application/vnd.git-lfs+json")


def lfs_upload(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, oid: str) -> None:
    state = h.hub.state
    repo_id = f"{ns}/{name}"
    if not hmac.compare_digest(query.get("sig", [""])[0], h.hub.sign(repo_id, oid)) or repo_id not in state.repos:
        h.close_connection = True
        raise HubError(403, "invalid or expired upload URL")
    record = {"repo": repo_id, "oid": oid, "size": h.length(), "received": 0, "completed": False}
    h.hub.uploads.append(record)
    tmp = state.store.tmp / f"{oid}.{threading.get_ident()}.part"
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as fh:
            for chunk in h.chunks():
                if fault is not None and fault.kind in ("drop", "stall") and record["received"] + len(chunk) >= fault.after_bytes:
                    record["received"] = fault.after_bytes
                    h.stall_then_drop() if fault.kind == "stall" else h.drop()
                    return
                digest.update(chunk)
                fh.write(chunk)
                record["received"] += len(chunk)
        if digest.hexdigest() != oid:
            h.close_connection = True
            raise HubError(400, f"sha256 mismatch: the upload hashes to {digest.hexdigest()}, not {oid}")
        os.replace(tmp, state.store.path(oid))
    finally:
        tmp.unlink(missing_ok=True)
    state.add_lfs_object(state.repos[repo_id], oid, record["received"])
    record["completed"] = True
    h.reply_json(200, {})


def lfs_verify(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
    repo = h.repo(ns, name, write=True)
    payload = h.json_body()
    if repo.lfs.get(payload.get("oid", "")) != payload.get("size"):
        raise HubError(404, "object not found or of another size")
    h.reply_json(200, {"message": "Object verified"})


ROUTES = [
    route(r"^/REPO\.git/info/lfs/objects/batch$", ("POST",), lfs_batch),
    route(r"^/REPO\.git/info/lfs/objects/verify$", ("POST",), lfs_verify),
    route(r"^/_lfs/REPO/(?P<oid>[0-9a-f]{64})$", ("PUT",), lfs_upload),
]
