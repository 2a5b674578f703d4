"""Accounts: whoami (the token's user, its organizations and the token's role), user and organization overviews."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from tests.support.hub_server.faults import Fault
from tests.support.hub_server.model import HubError
from tests.support.hub_server.routing import route

if TYPE_CHECKING:
    from tests.support.hub_server.handler import HubHandler


def whoami(h: HubHandler, method: str, query: dict, fault: Fault | None) -> None:
    account = h.account()
    if account is None:
        raise HubError(401, "You must be authenticated")
    orgs = [
        {"type": "org", "name": org, "roleInOrg": members[account.name]}
        for org, members in h.hub.state.orgs.items()
        if account.name in members
    ]
    h.reply_json(
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


def user_overview(h: HubHandler, method: str, query: dict, fault: Fault | None, user: str) -> None:
    if user not in h.hub.state.users:
        raise HubError(404, f"User {user} not found")
    h.reply_json(200, {"user": user, "fullname": user, "avatarUrl": "", "type": "user", "isPro": False})


def org_overview(h: HubHandler, method: str, query: dict, fault: Fault | None, org: str) -> None:
    if org not in h.hub.state.orgs:
        raise HubError(404, f"Organization {org} not found")
    h.reply_json(200, {"name": org, "fullname": org, "avatarUrl": "", "type": "org", "numUsers": len(h.hub.state.orgs[org])})


ROUTES = [
    route(r"^/api/whoami-v2$", ("GET",), whoami),
    route(r"^/api/users/(?P<user>[^/]+)/overview$", ("GET",), user_overview),
    route(r"^/api/organizations/(?P<org>[^/]+)/overview$", ("GET",), org_overview),
]
