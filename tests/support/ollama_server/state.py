"""What the Ollama stand-in stores: blobs and models on disk under its data folder, and a log of requests."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from tests.support.ollama_server.templates import default_checker


class OllamaState:
    """Stored blobs and models, plus a log of the requests (for tests: which blobs were uploaded), and the
    Go checker that parses and renders TEMPLATEs as Ollama does (default: one shared by all stand-ins)."""

    def __init__(self, data: Path, fail: dict[str, int] | None = None, checker: GoTemplateChecker | None = None) -> None:
        self.data = Path(data)
        self.checker = checker or default_checker()
        (self.data / "blobs").mkdir(parents=True, exist_ok=True)
        (self.data / "models").mkdir(parents=True, exist_ok=True)
        self.fail = dict(fail or {})
        self.uploads: list[str] = []
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def blob(self, digest: str) -> Path:
        return self.data / "blobs" / digest.replace(":", "-")

    def _model_file(self, name: str) -> Path:
        return self.data / "models" / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".json")

    def save_model(self, name: str, record: dict[str, Any]) -> None:
        path = self._model_file(name)
        tmp = path.with_suffix(f".tmp-{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, path)

    def model(self, name: str) -> dict[str, Any] | None:
        path = self._model_file(full_name(name))
        return json.loads(path.read_text()) if path.is_file() else None

    def models(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.data / "models").glob("*.json"))]


def full_name(name: str) -> str:
    """`name` with Ollama's default tag: `llama` -> `llama:latest`; a tagged name is unchanged."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
