"""`StandInServer`: the Ollama stand-in on a thread, for tests."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from tests.support.ollama_server.handler import Handler
from tests.support.ollama_server.state import OllamaState


class StandInServer:
    """The stand-in on a thread (tests): `url`, `state`, `stop()`."""

    def __init__(self, data: Path, port: int = 0, fail: dict[str, int] | None = None, checker: GoTemplateChecker | None = None) -> None:
        self.state = OllamaState(data, fail, checker)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
