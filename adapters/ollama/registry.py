"""Registry `ollama:NAME[:TAG]`: creates the model on an Ollama server through its REST API.

The official `ollama` client creates the model; httpx does what the client lacks: `HEAD
/api/blobs/<digest>` first, and the upload of a missing GGUF as a stream with a progress bar and its
sha256 checked on the way (the server checks it too). The digest is the one in the artifact's
manifest, so Ollama gets exactly the file the manifest describes. The server is `OLLAMA_HOST`
(default http://127.0.0.1:11434), read when publishing.

When no server answers, the Ollama-ready folder (GGUF + Modelfile) is published to the local
registry instead, under the publish's first `dir:` destination (else the default, ./published), with
the exact `ollama create` command to run: a warning, not an error, unless `--require-server` was given
(then it is an error, found at plan time).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import ollama
from ollama._types import CreateRequest  # the body `Client.create` sends (ollama-python 0.6)

from hubship.application.formats.ollama import format_for_quant
from hubship.domain.destination import DEFAULT_DESTINATION, Destination, parse_destination
from hubship.domain.errors import PublishError
from hubship.domain.manifest import MANIFEST_NAME
from hubship.domain.ollama_model import MODEL_JSON, MODELFILE, OllamaModel
from hubship.domain.publication import READY_NO_SERVER, Delivery, Publication
from hubship.ports.progress import Progress
from hubship.ports.registry import Registry

DEFAULT_HOST = "http://127.0.0.1:11434"
CHUNK = 1024 * 1024


def server_url(value: str | None) -> str:
    """OLLAMA_HOST as a URL, with Ollama's defaults: http, 127.0.0.1, port 11434 when no scheme is given."""
    value = (value or "").strip()
    if not value:
        return DEFAULT_HOST
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "http", value
    parts = urlsplit(f"{scheme}://{rest}")
    host = parts.hostname or "127.0.0.1"
    host = "127.0.0.1" if host == "0.0.0.0" else host
    host = f"[{host}]" if ":" in host else host
    port = parts.port or (11434 if not sep else {"http": 80, "https": 443}.get(scheme, 11434))
    path = parts.path.rstrip("/")
    return f"{scheme}://{host}:{port}{path}"


def model_name(target: str) -> str:
    """The name Ollama stores: `:latest` added when no tag is given."""
    return target if ":" in target.rsplit("/", 1)[-1] else f"{target}:latest"


class OllamaRegistry:
    scheme = "ollama"

    def __init__(self, fallback: Registry, fallback_destination: str = DEFAULT_DESTINATION, timeout_s: float = 30.0) -> None:
        self._fallback = fallback
        self._fallback_destination = fallback_destination
        self._timeout = timeout_s

    def _host(self) -> str:
        return server_url(os.environ.get("OLLAMA_HOST"))

    def formats_for(self, destination: Destination, options: dict) -> tuple[str, ...]:
        return (format_for_quant(options.get("ollama_quant")),)

    def locate(self, destination: Destination, name: str, fmt: str) -> str:
        return model_name(destination.target)

    def _folder(self, destination: Destination) -> Destination:
        """The `dir:` destination the plan chose for what falls back (`local_folder`), else this registry's default."""
        return parse_destination(destination.options.get("local_folder") or self._fallback_destination)

    def fallback_location(self, destination: Destination, name: str, fmt: str) -> str:
        return self._fallback.locate(self._folder(destination), name, fmt)

    def is_published(self, destination: Destination, name: str, fmt: str, key: str) -> bool:
        return False  # Ollama keeps no content key; re-creating is cheap: no blob already there is uploaded again

    def _answers(self, host: str) -> bool:
        try:
            httpx.get(f"{host}/api/version", timeout=3.0)
        except httpx.HTTPError:
            return False
        return True

    def check(self, destination: Destination) -> None:
        if destination.options.get("require_server") and not self._answers(host := self._host()):
            raise PublishError(f"no Ollama server answers at {host} (--require-server); start it with `ollama serve` or set OLLAMA_HOST")

    def publish(self, destination: Destination, publications: Sequence[Publication], progress: Progress) -> list[Delivery]:
        host = self._host()
        if not self._answers(host):
            if destination.options.get("require_server"):
                raise PublishError(f"no Ollama server answers at {host} (--require-server); nothing was created")
            return self._publish_folder(destination, host, publications, progress)
        name = model_name(destination.target)
        with httpx.Client(base_url=host, timeout=httpx.Timeout(self._timeout, read=None, write=None)) as http:
            client = ollama.Client(host=host, timeout=None)
            return [Delivery(location=self._create(http, client, host, name, pub, progress)) for pub in publications]

    def _publish_folder(
        self, destination: Destination, host: str, publications: Sequence[Publication], progress: Progress
    ) -> list[Delivery]:
        """The Ollama-ready folders, each `ready, no server`, with the `ollama create` command that finishes the job."""
        ready = []
        for delivery in self._fallback.publish(self._folder(destination), publications, progress):
            folder = Path(delivery.location).resolve()
            command = f"ollama create {model_name(destination.target)} -f {folder / MODELFILE}"
            progress.message(
                f"warning: no Ollama server answers at {host}, so nothing was created there; the Ollama-ready folder is"
                f" {folder}; create the model with: {command}"
            )
            ready.append(Delivery(location=str(folder), status=READY_NO_SERVER, command=command))
        return ready

    def _create(self, http: httpx.Client, client: ollama.Client, host: str, name: str, pub: Publication, progress: Progress) -> str:
        source = Path(pub.source_dir)
        model = OllamaModel.from_json((source / MODEL_JSON).read_text(encoding="utf-8"))
        entry = next((f for f in pub.manifest.files if f.path == model.model_file), None)
        if entry is None:
            raise PublishError(f"{model.model_file} is not in the {pub.format} manifest; rebuild it (delete the workspace artifact)")
        digest = f"sha256:{entry.sha256}"
        try:
            self._upload(http, host, source / model.model_file, digest, entry.size, progress)
            status = ""
            for part in create_stream(client, name, {model.model_file: digest}, model.create_fields()):
                if part.status and part.status != status:
                    status = part.status
                    progress.message(f"ollama: {status}")
        except ollama.ResponseError as exc:
            code = f" (HTTP {exc.status_code})" if exc.status_code > 0 else ""
            raise PublishError(f"the Ollama server at {host} refused to create {name}: {exc.error}{code}") from None
        except (httpx.HTTPError, ConnectionError) as exc:
            raise PublishError(f"the Ollama server at {host} stopped answering while creating {name} ({type(exc).__name__})") from None
        if status != "success":
            raise PublishError(f"the Ollama server at {host} did not confirm creating {name} (last status: {status or 'none'})")
        check = f"template check: {pub.manifest.verification.get('metrics', {}).get('template_check', 'not run')}"
        renderer = _renderer(http, host, name)
        if renderer:  # `ollama create` gave the architecture Ollama's own renderer: the TEMPLATE is not what it renders
            check = f"rendered by Ollama's built-in renderer {renderer}, not by the proven TEMPLATE; {check}"
        progress.message(f"created Ollama model {name} ({check}; {MANIFEST_NAME} key {pub.manifest.key[:12]})")
        return name

    def _upload(self, http: httpx.Client, host: str, path: Path, digest: str, size: int, progress: Progress) -> None:
        """Upload the blob unless the server has it; the stream's sha256 must be the manifest's."""
        head = http.head(f"/api/blobs/{digest}")
        if head.status_code == 200:
            progress.message(f"ollama: {path.name} is already on the server, not uploaded again")
            return
        if head.status_code != 404:
            raise PublishError(f"the Ollama server at {host} answered HTTP {head.status_code} when asked for blob {digest[:19]}…")
        seen = hashlib.sha256()

        def chunks(task) -> Iterator[bytes]:
            with path.open("rb") as fh:
                while block := fh.read(CHUNK):
                    seen.update(block)
                    task.advance(len(block))
                    yield block

        with progress.task(f"upload {path.name} to Ollama", total=size, unit="bytes") as task:
            answer = http.post(f"/api/blobs/{digest}", content=chunks(task))
        if seen.hexdigest() != digest.removeprefix("sha256:"):
            raise PublishError(
                f"blob digest mismatch: {path.name} does not have the sha256 its manifest records ({digest[7:19]}…);"
                " it changed after it was built: publish again to rebuild it"
            )
        if answer.status_code not in (200, 201):
            raise PublishError(f"the Ollama server at {host} refused blob {path.name}: {_error(answer)} (HTTP {answer.status_code})")


def _renderer(http: httpx.Client, host: str, name: str) -> str:
    """The built-in RENDERER the server lists for `name` in `/api/show` ("" for none, or where it does not answer)."""
    try:
        shown = http.post(f"{host}/api/show", json={"model": name})
        return str(shown.json().get("renderer") or "") if shown.status_code == 200 else ""
    except (httpx.HTTPError, ValueError):
        return ""


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text).splitlines()[0][:200]
    except (ValueError, AttributeError, IndexError):
        return (response.text.splitlines() or ["no details"])[0][:200]


def create_stream(client: ollama.Client, name: str, files: dict[str, str], fields: dict[str, Any]) -> Iterator[Any]:
    """`client.create(..., stream=True)` with the fields its signature lacks (`parser`, which Ollama's `/api/create`
    takes: api.CreateRequest) sent as well, through the request the client's own `create` makes."""
    extra = {k: fields.pop(k) for k in ("parser",) if k in fields}
    if not extra:
        return client.create(model=name, files=files, stream=True, **fields)
    body = CreateRequest(model=name, files=files, stream=True, **fields).model_dump(exclude_none=True) | extra
    return client._request(ollama.ProgressResponse, "POST", "/api/create", json=body, stream=True)
