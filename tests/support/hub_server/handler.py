"""The stand-in's HTTP plumbing: reading bodies, answering JSON the Hub's way, injecting faults, and routing.

Route functions live in one module per protocol area (accounts_api, repos_api, refs_api, files_api,
commit_api, lfs_api, admin_api) and answer through `reply`, `reply_json` and `reply_error`; a HubError
they raise becomes the Hub's error answer. Routes are tried in order; the file resolve route comes last.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.hub_server import accounts_api, admin_api, commit_api, files_api, lfs_api, refs_api, repos_api
from tests.support.hub_server.faults import Fault
from tests.support.hub_server.model import Account, HubError, Repo
from tests.support.hub_server.routing import Route

if TYPE_CHECKING:
    from tests.support.hub_server.server import HubServer

CHUNK = 1 << 20
ROUTES: list[Route] = [
    *accounts_api.ROUTES,
    *repos_api.ROUTES,
    *commit_api.ROUTES,
    *files_api.ROUTES,
    *refs_api.ROUTES,
    *lfs_api.ROUTES,
    *admin_api.ROUTES,
    files_api.RESOLVE,  # last: `/OWNER/NAME/resolve/...` could also read as an API path of a repo named like one
]


class HubHandler(BaseHTTPRequestHandler):
    """One connection; `hub` (the HubServer) is set on the subclass made for each server."""

    protocol_version = "HTTP/1.1"
    hub: HubServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no 40 ms wait between headers and body

    def log_message(self, format: str, *args: Any) -> None:  # quiet; `requests` keeps a log without headers
        return

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

    # ---- reading the request --------------------------------------------------------------
    @property
    def base(self) -> str:
        return self.hub.url

    def length(self) -> int:
        return int(self.headers.get("Content-Length") or 0)

    def chunks(self) -> Iterator[bytes]:
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
        remaining = self.length()
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise ConnectionError("client went away")
            remaining -= len(chunk)
            yield chunk

    def body(self) -> bytes:
        if not hasattr(self, "_cached_body"):
            self._cached_body = b"".join(self.chunks())
        return self._cached_body

    def json_body(self) -> Any:
        body = self.body()
        try:
            return json.loads(body or b"{}")
        except ValueError:
            raise HubError(400, "the body is not JSON") from None

    def account(self) -> Account | None:
        auth = self.headers.get("Authorization") or self.headers.get("authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        return self.hub.state.account(token)

    def repo(self, ns: str, name: str, *, write: bool = False) -> Repo:
        """The repo `ns/name` as the token may see it (HubError 401/403/404 otherwise)."""
        return self.hub.state.repo(f"{ns}/{name}", self.account(), write=write)

    # ---- answering ------------------------------------------------------------------------
    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.hub.requests.append((self.command, urlsplit(self.path).path, status))

    def reply_json(self, status: int, data: Any, headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
        self.reply(status, json.dumps(data).encode(), headers, content_type)

    def reply_error(self, status: int, message: str, code: str | None = None, extra: dict[str, str] | None = None) -> None:
        headers = {"X-Error-Message": message, **(extra or {})}
        if code:
            headers["X-Error-Code"] = code
        self.reply_json(status, {"error": message}, headers)

    def drop(self) -> None:
        """Close the connection without an answer, as a broken network would."""
        self.hub.faults.dropped += 1
        self.close_connection = True
        self.hub.requests.append((self.command, urlsplit(self.path).path, 0))
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def stall_then_drop(self) -> None:
        self.hub.faults.stalled += 1
        self.hub.faults.released.wait(timeout=600)
        self.drop()

    # ---- routing and faults ---------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        self.__dict__.pop("_cached_body", None)  # one handler serves every request of a kept-alive connection
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query)
        fault = self.hub.faults.take(method, path, self.length())
        try:
            if fault is not None and fault.kind == "status":
                if self.length() <= 16 * CHUNK:
                    self.body()
                else:
                    self.close_connection = True
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                self.reply_error(fault.status, f"injected HTTP {fault.status}", extra=headers)
                return
            if fault is not None and fault.kind in ("drop", "stall") and not path.startswith("/_lfs/"):
                for _ in self.chunks():
                    break
                self.stall_then_drop() if fault.kind == "stall" else self.drop()
                return
            for pattern, methods, handler in ROUTES:
                match = pattern.match(path)
                if match and method in methods:
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    if fault is not None and fault.kind == "after":
                        self._reply_after(fault, lambda h=handler, p=params: h(self, method, query, fault, **p))
                    else:
                        handler(self, method, query, fault, **params)
                    return
            self.reply_error(404, f"no route for {method} {path}")
        except HubError as exc:
            self._discard_body(path)
            self.reply_error(exc.status, exc.message, exc.code)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True

    def _discard_body(self, path: str) -> None:
        """Read what is left of a refused request's body, or close the connection after answering."""
        if hasattr(self, "_cached_body"):
            return
        if path.startswith("/_lfs/") or self.length() > 16 * CHUNK:
            self.close_connection = True
        else:
            self.body()

    def _reply_after(self, fault: Fault, work: Callable[[], None]) -> None:
        """Do the work but swallow its answer, then answer the fault's status (a lost response)."""
        real_reply = self.reply
        self.reply = lambda *a, **k: None  # type: ignore[method-assign]
        try:
            work()
        finally:
            self.reply = real_reply  # type: ignore[method-assign]
        self.reply_error(
            fault.status, f"injected HTTP {fault.status} after the work was done", extra={"Retry-After": fault.retry_after or "0"}
        )
