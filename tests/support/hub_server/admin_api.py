"""Admin endpoints for tests that run the server in another process: set or clear faults, read what it received."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.hub_server.faults import Fault
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler


def admin_faults(h: HubHandler, method: str, query: dict, fault: Fault | None) -> None:
    """POST a fault spec (`kind` and Fault's fields) to add it; DELETE to clear every fault."""
    if method == "DELETE":
        h.hub.clear_faults()
    else:
        spec = h.json_body()
        h.hub.add_fault(spec.pop("kind"), **spec)
    h.reply_json(200, {})


def admin_stats(h: HubHandler, method: str, query: dict, fault: Fault | None) -> None:
    """The uploads received, the commits per repo, and how many connections were dropped or stalled."""
    repos = {rid: len(h.hub.commits(rid)) for rid in h.hub.state.repos}
    h.reply_json(200, {"uploads": h.hub.uploads, "commits": repos, "dropped": h.hub.faults.dropped, "stalled": h.hub.faults.stalled})


ROUTES = [
    route(r"^/_admin/faults$", ("POST", "DELETE"), admin_faults),
    route(r"^/_admin/stats$", ("GET",), admin_stats),
]
