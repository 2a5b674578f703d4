"""The Ollama stand-in's HTTP API: blob upload and lookup, create, chat, generate, tags, show and version
(see __init__.py).

`Handler.state` is set on a subclass made per server (server.py); faults in `state.fail` answer a path
prefix with an error status before anything else happens.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.ollama_server import chat
from tests.support.ollama_server.state import OllamaState, full_name
from tests.support.ollama_server.templates import builtin_renderer, create_error, model_capabilities

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$")
GGUF_MAGIC = b"GGUF"


def parameters_text(parameters: dict[str, Any]) -> str:
    """Parameters as Ollama's /api/show prints them: one `name value` line per value."""
    lines = []
    for key, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key:<30} {json.dumps(item) if isinstance(item, str) else item}")
    return "\n".join(lines)


class Handler(BaseHTTPRequestHandler):
    server_version = "ollama-standin/0"
    state: OllamaState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: Any = None, *, lines: list[dict[str, Any]] | None = None) -> None:
        with self.state.lock:
            self.state.requests.append((self.command, self.path, status))
        if lines is not None:
            payload = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            content_type = "application/x-ndjson"
        else:
            payload = b"" if body is None else json.dumps(body).encode()
            content_type = "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message})

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self._body() or b"{}")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _fault(self) -> bool:
        status = next((s for prefix, s in self.state.fail.items() if self.path.startswith(prefix)), None)
        if status is None:
            return False
        if self.command == "POST":
            self._body()
        self._error(status, f"stand-in fault on {self.path}")
        return True

    def do_HEAD(self) -> None:
        if self._fault():
            return
        digest = self.path.removeprefix("/api/blobs/")
        if not self.path.startswith("/api/blobs/") or not DIGEST.match(digest):
            self._send(400)
        else:
            self._send(200 if self.state.blob(digest).is_file() else 404)

    def do_GET(self) -> None:
        if self._fault():
            return
        if self.path == "/api/version":
            self._send(200, {"version": "0.0.0-standin"})
        elif self.path == "/api/tags":
            models = [
                {
                    "name": m["name"],
                    "model": m["name"],
                    "modified_at": m["created_at"],
                    "size": m["size"],
                    "digest": m["digest"],
                    "details": {},
                }
                for m in self.state.models()
            ]
            self._send(200, {"models": models})
        else:
            self._error(404, "not found")

    def do_POST(self) -> None:
        if self._fault():
            return
        if self.path.startswith("/api/blobs/"):
            self._upload(self.path.removeprefix("/api/blobs/"))
        elif self.path == "/api/create":
            self._create()
        elif self.path == "/api/show":
            self._show()
        elif self.path in ("/api/chat", "/api/generate"):
            self._answer(chat.chat if self.path == "/api/chat" else chat.generate)
        else:
            self._body()
            self._error(404, "not found")

    def _upload(self, digest: str) -> None:
        data = self._body()
        if not DIGEST.match(digest):
            return self._error(400, f"invalid digest {digest!r}")
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            return self._error(400, f"digest mismatch, expected {digest!r}, got {actual!r}")
        target = self.state.blob(digest)
        tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        with self.state.lock:
            self.state.uploads.append(digest)
            with (self.state.data / "uploads.log").open("a") as log:  # for tests that run the server in another process
                log.write(digest + "\n")
        self._send(201)

    def _create(self) -> None:
        request = self._json()
        if request is None:
            return self._error(400, "invalid JSON")
        name, files = request.get("model") or request.get("name"), request.get("files") or {}
        if not isinstance(name, str) or not NAME.match(name):
            return self._error(400, f"invalid model name {name!r}")
        if not isinstance(files, dict) or not files:
            return self._error(400, "neither 'from' nor 'files' was specified")
        for filename, digest in files.items():
            blob = self.state.blob(str(digest))
            if not DIGEST.match(str(digest)) or not blob.is_file():
                return self._error(400, f"file {filename!r}: blob {digest} not found; upload it first")
            with blob.open("rb") as fh:
                if fh.read(4) != GGUF_MAGIC:
                    return self._error(400, f"file {filename!r} is not a GGUF file (invalid magic)")
        streamed = request.get("stream", True) is not False
        parsed = self.state.checker.parse(request["template"]) if request.get("template") else None
        if parsed is not None and (error := create_error(parsed)) is not None:  # Ollama: after "parsing GGUF"
            return self._send(200, lines=[{"status": "parsing GGUF"}, {"error": error}]) if streamed else self._error(400, error)
        name = full_name(name)
        fields = {k: request.get(k) for k in ("template", "system", "parameters", "license")}
        fields |= {k: request[k] for k in ("renderer", "parser") if request.get(k)}
        fields |= builtin_renderer(self.state, files, fields)
        record = {
            "name": name,
            "files": files,
            **fields,
            "capabilities": model_capabilities(parsed, str(fields.get("parser") or "")),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "size": sum(self.state.blob(d).stat().st_size for d in files.values()),
            "digest": hashlib.sha256(json.dumps([files, fields], sort_keys=True).encode()).hexdigest(),
        }
        self.state.save_model(name, record)
        steps = [{"status": "parsing GGUF"}, *({"status": f"using existing layer {d}"} for d in files.values())]
        steps += [{"status": "writing manifest"}, {"status": "success"}]
        self._send(200, lines=steps if streamed else [steps[-1]])

    def _answer(self, endpoint: Any) -> None:
        """A chat/generate answer: one JSON object, or (the default, `stream` not false) one ndjson line."""
        request = self._json()
        if request is None:
            return self._error(400, "invalid JSON")
        status, body = endpoint(self.state, request)
        if status == 200 and request.get("stream", True) is not False:
            self._send(status, lines=[body])
        else:
            self._send(status, body)

    def _show(self) -> None:
        request = self._json() or {}
        name = request.get("model") or request.get("name") or ""
        record = self.state.model(str(name))
        if record is None:
            return self._error(404, f"model '{name}' not found")
        parameters = record.get("parameters") or {}
        self._send(
            200,
            {
                "template": record.get("template") or "{{ .Prompt }}",
                "system": record.get("system") or "",
                "parameters": parameters_text(parameters),
                "license": record.get("license") or "",
                "modelfile": f"FROM {next(iter(record['files'].values()))}",
                "details": {"format": "gguf"},
                "model_info": {},
                "capabilities": record.get("capabilities") or model_capabilities(None),
                **{k: record[k] for k in ("renderer", "parser") if record.get(k)},
                "standin": {"parameters": parameters, "files": record["files"]},
            },
        )
