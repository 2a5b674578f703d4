"""A local stand-in for the parts of Ollama's REST API that publishing uses.

- `HEAD /api/blobs/sha256:<hex>`: 200 when the blob is stored, else 404.
- `POST /api/blobs/sha256:<hex>`: stores the body (plain or chunked) if its sha256 is the digest, 201; else 400.
- `POST /api/create`: every digest in `files` must be stored and start with the GGUF magic; records the
  model's files, template, system, parameters and license; streams status lines ending in `success`.
- `GET /api/tags`, `POST /api/show` (the template, system and parameters each model received), `GET /api/version`.

Blobs live in `<data>/blobs/`, models in `<data>/models/*.json`, so a restarted server keeps them; every
accepted upload is appended to `<data>/uploads.log`.
Faults for tests: `fail={"/api/create": 500}` answers that path with that status.

Modules: state.py (what is stored), handler.py (the HTTP API), server.py (`StandInServer`, on a
thread, for tests), __main__.py (the command line).

By hand: `python -m tests.support.ollama_server --port PORT --data DIR [--fail PATH=STATUS]` (e.g.
`--fail /api/create=500`, repeatable) prints its URL and serves until killed; point the real client at
it with `OLLAMA_HOST=<url>`.
"""

from __future__ import annotations

from tests.support.ollama_server.server import StandInServer
from tests.support.ollama_server.state import OllamaState

__all__ = ["OllamaState", "StandInServer"]
