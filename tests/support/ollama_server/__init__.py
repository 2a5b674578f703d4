"""A local stand-in for the parts of Ollama's REST API that publishing uses.

- `HEAD /api/blobs/sha256:<hex>`: 200 when the blob is stored, else 404.
- `POST /api/blobs/sha256:<hex>`: stores the body (plain or chunked) if its sha256 is the digest, 201; else 400.
- `POST /api/create`: every digest in `files` must be stored and start with the GGUF magic; the `template`
  must pass Ollama's `template.Parse` (else "template error: ...", as Ollama answers); records the model's
  files, template, system, parameters, license and capabilities; streams status lines ending in `success`.
- `POST /api/chat`, `POST /api/generate`: Ollama's checks (`think` and `tools` against the model's
  capabilities) and its prompt, rendered from the TEMPLATE; an empty answer with `standin.prompt` (chat.py).
- `GET /api/tags`, `POST /api/show` (the template, system, parameters and capabilities each model received),
  `GET /api/version`.

TEMPLATEs are parsed and rendered by hubship's Go checker, which holds Ollama's rules (templates.py).

Blobs live in `<data>/blobs/`, models in `<data>/models/*.json`, so a restarted server keeps them; every
accepted upload is appended to `<data>/uploads.log`.
Faults for tests: `fail={"/api/create": 500}` answers that path with that status.

Modules: state.py (what is stored), handler.py (the HTTP API), chat.py (chat and generate), templates.py
(Ollama's rules around the Go checker), server.py (`StandInServer`, on a thread, for tests), __main__.py
(the command line).

By hand: `python -m tests.support.ollama_server --port PORT --data DIR [--fail PATH=STATUS]` (e.g.
`--fail /api/create=500`, repeatable) prints its URL and serves until killed; point the real client at
it with `OLLAMA_HOST=<url>`.
"""

from __future__ import annotations

from tests.support.ollama_server.server import StandInServer
from tests.support.ollama_server.state import OllamaState

__all__ = ["OllamaState", "StandInServer"]
