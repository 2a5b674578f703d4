"""The stand-in server: an HTTP server on a thread, its state and faults, and what tests inspect of it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.hub_server.faults import Fault, Faults
from tests.support.hub_server.handler import HubHandler
from tests.support.hub_server.model import INITIAL_TITLE
from tests.support.hub_server.state import HubState


def new_token() -> str:
    """A random token in the Hub's format (`hf_` + 34 letters and digits)."""
    return "hf_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(34))


class HubServer:
    """The server: `url`, `state` (repos, commits, objects), `faults`, and what it received (`uploads`, `requests`)."""

    def __init__(self, data_dir: Path | str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = HubState(Path(data_dir))
        self.faults = Faults()
        self.uploads: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, int]] = []
        self._secret = secrets.token_bytes(16)
        self._httpd = ThreadingHTTPServer((host, port), type("Handler", (HubHandler,), {"hub": self}))
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
        return self.state.store.read(self.files(repo_id, revision)[path])

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
        """The signature of an upload URL for `oid` in `repo_id` (checked by the upload route)."""
        return hmac.new(self._secret, f"{repo_id}:{oid}".encode(), hashlib.sha256).hexdigest()
