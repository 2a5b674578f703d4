"""GoTemplateRenderer through Go's own text/template: a small helper program, compiled once per source.

The helper's source (`go_template/*.go`, shipped as package data) mirrors how Ollama's server
feeds a TEMPLATE (main.go): Modelfile SYSTEM injection, merging of consecutive same-role messages, and
the `.Messages`/`.System`/`.Prompt`/`.Response` data; and how Ollama parses one (ollama_parse.go): the
walk of `template.Parse` that refuses, among others, a template call without a pipeline, and the
capabilities Ollama reads from the template (`tools`, `insert`, `thinking`). A TEMPLATE Ollama refuses
is refused here with Ollama's own message. It is compiled with the `go` on PATH (Debian: `golang-go`,
1.19 is enough) into `<cache>/gotmpl-<sources hash>-<go version>` on first use; nothing is downloaded
(GOPROXY=off, GOTOOLCHAIN=local).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs

from hubship.domain.chat_template import ChatMessage, TemplateNotDerivable
from hubship.domain.errors import PublishError
from hubship.domain.template_check import OllamaCase, RenderOutcome, TemplateTags

SOURCES = files("hubship.adapters.ollama").joinpath("go_template")
TIMEOUT_S = 300


@attrs.frozen
class OllamaParse:
    """What Ollama's `template.Parse` makes of a TEMPLATE: `error` is its refusal (None: accepted, as
    `ollama create` would), `capabilities` what it reads from the template's names (tools, insert, thinking)."""

    error: str | None
    capabilities: tuple[str, ...] = ()


def _sources() -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(SOURCES.iterdir(), key=lambda f: f.name) if f.name.endswith(".go")}


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [{"id": c.id, "function": {"name": c.name, "arguments": json.loads(c.arguments)}} for c in m.tool_calls]
    out.update({k: v for k, v in (("thinking", m.thinking), ("tool_name", m.tool_name), ("tool_call_id", m.tool_call_id)) if v})
    return out


def ollama_case(c: OllamaCase) -> dict[str, Any]:
    """A case as the helper reads it: the request's messages, tools and think switch as Ollama's API has them."""
    out: dict[str, Any] = {"system": c.system, "date": c.date or "", "messages": [_message(m) for m in c.messages]}
    if c.tools:
        out["tools"] = [json.loads(t) for t in c.tools]
    if c.think is not None:
        out["think"] = c.think
    return out


class GoTemplateChecker:
    def __init__(self, cache_dir: Path, go: str | None = None) -> None:
        # absolute: Go refuses a relative GOPATH or GOCACHE, and a relative --workspace would make it one
        self._cache = Path(cache_dir).expanduser().resolve() / "tools" / "gotmpl"
        self._go = go
        self._version: str | None = None

    def _go_binary(self) -> str | None:
        return self._go or shutil.which("go")

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "", "CGO_ENABLED": "0"}
        env.setdefault("GOCACHE", str(self._cache / "go-build"))
        env.setdefault("GOPATH", str(self._cache / "gopath"))
        return env

    def version(self) -> str | None:
        if self._version is None:
            go = self._go_binary()
            if go is None:
                return None
            try:
                out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, timeout=60, env=self._env())
            except OSError:
                return None
            self._version = out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None
        return self._version

    def _helper(self) -> Path:
        """The compiled helper, built atomically into the cache when missing."""
        version = self.version()
        if version is None:
            raise PublishError("Go is not installed; install it (Debian: apt-get install golang-go) to check Ollama templates")
        sources = _sources()
        digest = hashlib.sha256(b"".join(name.encode() + b"\0" + data + b"\0" for name, data in sources.items()))
        target = self._cache / f"gotmpl-{digest.hexdigest()[:16]}-{version}"
        if target.is_file():
            return target
        build = self._cache / f"build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        build.mkdir(parents=True)
        try:
            for name, data in sources.items():
                (build / name).write_bytes(data)
            done = subprocess.run(
                [self._go_binary() or "go", "build", "-o", str(build / "gotmpl"), *sources],
                cwd=build,
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                env=self._env(),
            )
            if done.returncode != 0:
                first = (done.stderr.strip().splitlines() or ["no output"])[0]
                raise PublishError(f"compiling the Go template checker failed: {first}")
            os.replace(build / "gotmpl", target)
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return target

    def _run(self, payload: dict) -> dict:
        done = subprocess.run(
            [str(self._helper())], input=json.dumps(payload), capture_output=True, text=True, encoding="utf-8", timeout=TIMEOUT_S
        )
        if done.returncode != 0:
            raise PublishError(f"the Go template checker failed: {(done.stderr.strip().splitlines() or ['no output'])[0]}")
        return json.loads(done.stdout)

    def parse(self, template: str) -> OllamaParse:
        """Ollama's verdict on `template` (its Parse and the capabilities it reads); PublishError without Go."""
        result = self._run({"template": template, "cases": []})
        return OllamaParse(error=result.get("parse_error") or None, capabilities=tuple(result.get("capabilities") or ()))

    def render(self, template: str, cases: Sequence[OllamaCase]) -> list[RenderOutcome]:
        result = self._run({"template": template, "cases": [ollama_case(c) for c in cases]})
        if result.get("parse_error"):
            raise TemplateNotDerivable(f"Ollama's template parser refuses the derived template ({result['parse_error']})")
        return [
            RenderOutcome(text=None, error=r["error"]) if r.get("error") else RenderOutcome(text=r["output"]) for r in result["results"]
        ]

    def tags(self, template: str) -> TemplateTags:
        result = self._run({"template": template, "cases": []})
        if result.get("parse_error"):
            raise TemplateNotDerivable(f"Ollama's template parser refuses the derived template ({result['parse_error']})")
        found = result["tags"]
        return TemplateTags(found["tool_call"], found["thinking_open"], found["thinking_close"])
