"""Refs: listing branches, tags and PR refs, a branch's commits, creating and deleting branches, creating tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.support.hub_server.faults import Fault
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler


def refs(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str) -> None:
    repo = h.repo(ns, name)

    def ref(name: str, full: str, oid: str) -> dict[str, str]:
        return {"name": name, "ref": full, "targetCommit": oid}

    data: dict[str, Any] = {
        "branches": [ref(b, f"refs/heads/{b}", o) for b, o in sorted(repo.branches.items())],
        "converts": [],
        "tags": [ref(t, f"refs/tags/{t}", o) for t, o in sorted(repo.tags.items())],
    }
    if query.get("include_prs"):
        data["pullRequests"] = [ref(f"refs/pr/{n}", f"refs/pr/{n}", o) for n, o in sorted(repo.prs.items())]
    h.reply_json(200, data)


def commits(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
    repo = h.repo(ns, name)
    h.reply_json(
        200,
        [
            {"id": c["id"], "title": c["title"], "message": c["message"], "authors": [{"user": c["author"]}], "date": c["date"]}
            for c in h.hub.state.history(repo, rev)
        ],
    )


def branch(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, branch: str) -> None:
    state = h.hub.state
    repo = h.repo(ns, name, write=True)
    if method == "DELETE":
        state.delete_branch(repo, branch)
    else:
        state.create_ref(repo, "branch", branch, h.json_body().get("startingPoint") or "main")
    h.reply_json(200, {})


def tag(h: HubHandler, method: str, query: dict, fault: Fault | None, ns: str, name: str, rev: str) -> None:
    repo = h.repo(ns, name, write=True)
    payload = h.json_body()
    h.hub.state.create_ref(repo, "tag", str(payload.get("tag") or ""), rev)
    h.reply_json(200, {})


ROUTES = [
    route(r"^/api/models/REPO/refs$", ("GET",), refs),
    route(r"^/api/models/REPO/commits/(?P<rev>[^/]+)$", ("GET",), commits),
    route(r"^/api/models/REPO/branch/(?P<branch>[^/]+)$", ("POST", "DELETE"), branch),
    route(r"^/api/models/REPO/tag/(?P<rev>[^/]+)$", ("POST",), tag),
]
