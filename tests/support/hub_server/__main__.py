"""`python -m tests.support.hub_server`: run the stand-in until killed (see the package docstring)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import tests.support.hub_server as package
from tests.support.hub_server.server import HubServer, new_token


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.hub_server", description=(package.__doc__ or "").split("\n\n")[0])
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
