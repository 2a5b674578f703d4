"""ServedChat through llama.cpp's `llama-server`, built at set-up from the pinned llama-cpp-python source
(tools_build.SERVER): the prompt its own C++ Jinja engine renders and the ids its chat completion evaluates.

What the server does, read from the pinned source (vendor/llama.cpp of llama-cpp-python 0.3.36):
- `POST /apply-template` (tools/server/server-context.cpp, `post_apply_template`) runs the chat completion's own
  `oaicompat_chat_params_parse` (server-common.cpp) and returns its `prompt`: `add_generation_prompt` defaults to
  true, a conversation ending with an assistant turn is continued instead (prefill), the template's workarounds
  apply (a system message folded into the first user turn for a template without a system role, ...).
- That prompt is already cut: `common_chat_template_direct_apply_impl` (common/chat.cpp) drops a leading BOS
  text when the vocabulary adds BOS (`tokenizer.ggml.add_bos_token`), and a trailing EOS text when it adds EOS.
- The chat completion then tokenizes the prompt with `tokenize_input_prompts(..., add_special=true,
  parse_special=true)` (`handle_completions_impl`), which for a text prompt is `tokenize_mixed` ->
  `common_tokenize(vocab, prompt, true, true)`: BOS (and EOS) added as the vocabulary says, special tokens
  parsed. `POST /tokenize` calls the same `tokenize_mixed`, but with `add_special` false unless asked, so
  `tokenize` asks for `add_special: true, parse_special: true`: the ids the completion evaluates.
- Unasked, `enable_thinking` is what the server decided at load (server-context.cpp): true only when its
  parser finds reasoning markers in the template (`common_chat_templates_support_enable_thinking`), else
  false, where transformers leaves it undefined; `render(..., thinking=...)` sends `chat_template_kwargs`.
- `date_string` and `datetime` are always today's (`common_chat_extra_context`, common/chat.cpp).
- A template its C++ Jinja engine cannot run (a filter jinja2 has and it lacks) fails per conversation
  with a 400 whose message ends with the engine's `Error: ...` line, kept in the one-line error.

A server is started per GGUF on a loopback port it picks itself (`--port 0`; small context, one slot, no
warm-up, no web UI, the threads other processes leave free, $LLAMA_ARG_* ignored), its output written to a
log file, and kept while this object is used; `close()` (or leaving the `with` block, or the interpreter's exit) stops them. The
GGUF must hold weights: llama-server loads a model, and a vocab-only GGUF (the converter's preflight) has
none, so it is refused up front.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubship.adapters.llama_cpp.gguf_header import architecture as gguf_architecture
from hubship.adapters.llama_cpp.gguf_header import tensor_count
from hubship.adapters.llama_cpp.gguf_header import value as gguf_value
from hubship.adapters.llama_cpp.install import library_version
from hubship.adapters.llama_cpp.threads import free_threads
from hubship.adapters.llama_cpp.tools_build import SERVER, installed_tools, tool_path
from hubship.domain.chat_template import ChatMessage
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.gguf_tokenizer import CHAT_TEMPLATE
from hubship.domain.served_requests import served_request
from hubship.domain.template_check import RenderOutcome

CTX = 512
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 60.0
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through $http_proxy
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")  # logged once the model is loaded (tools/server/server.cpp)


def server_binary() -> Path:
    """The llama-server of the installed llama-cpp-python; a one-line UserInputError naming `make setup` otherwise."""
    return tool_path(installed_tools(library_version(), SERVER), "llama-server")


def _last_error(log: Path) -> str:
    """The log's last error line (its last line where none says error): the log itself goes when the server is stopped."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return (errors or lines or ["no output"])[-1]


class _Server:
    """One llama-server process serving one GGUF."""

    def __init__(self, binary: Path, gguf: Path, logs: Path, template: Path | None = None) -> None:
        threads = str(free_threads())
        handle, log = tempfile.mkstemp(prefix=f"{gguf.stem}-", suffix=".log", dir=logs)
        os.close(handle)
        self.url, self.log = "", Path(log)
        command = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", "0", "-c", str(CTX), "-np", "1"]  # port 0: any free one
        command += ["-t", threads, "-tb", threads, "--no-warmup", "--no-webui", "--jinja", "-fit", "off", "--cache-ram", "0"]
        command += ["--chat-template-file", str(template)] if template else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_ARG_")}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
        self._wait(gguf)

    def _wait(self, gguf: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PublishError(f"llama-server stopped while loading {gguf.name} ({_last_error(self.log)})")
            if not self.url and (port := LISTENING.search(self.log.read_text(errors="replace"))):
                self.url = f"http://127.0.0.1:{port.group(1)}"
            try:
                if self.url and self.call("GET", "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise PublishError(f"llama-server did not load {gguf.name} in {START_TIMEOUT_S:.0f} s ({_last_error(self.log)})")

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
        """(HTTP status, decoded JSON answer)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with _DIRECT.open(request, timeout=REQUEST_TIMEOUT_S) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as failed:
            raw = failed.read()
            try:
                return failed.code, json.loads(raw)
            except ValueError:
                return failed.code, {"error": {"message": raw.decode(errors="replace").strip() or failed.reason}}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _stop_all(servers: dict[Any, _Server], logs: Path) -> None:
    for server in servers.values():
        server.stop()
    servers.clear()
    shutil.rmtree(logs, ignore_errors=True)


def _error(answer: Any) -> str:
    """One line: the server's message, its first line and, for a template error, the last (`Error: ...`)."""
    message = answer.get("error", {}).get("message") if isinstance(answer, dict) else None
    lines = [line.strip() for line in str(message or answer).splitlines() if line.strip()] or ["no message"]
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"


class LlamaServerServedChat:
    def __init__(self) -> None:
        self._servers: dict[tuple[str, int, int, str], _Server] = {}
        self._logs = Path(tempfile.mkdtemp(prefix="hubship-llama-server-"))
        self._finalizer = weakref.finalize(self, _stop_all, self._servers, self._logs)

    def __enter__(self) -> LlamaServerServedChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every server this object started (it starts new ones if used again)."""
        _stop_all(self._servers, self._logs)
        self._logs.mkdir(exist_ok=True)

    def available(self) -> bool:
        try:
            server_binary()
        except UserInputError:
            return False
        return True

    def server(self, gguf: Path, template: Path | None = None) -> _Server:
        """The running server of `gguf` (with the chat template in the file `template` instead of its own, when given),
        started on first use."""
        stat = Path(gguf).stat()
        key = (str(Path(gguf).resolve()), stat.st_size, stat.st_mtime_ns, str(template or ""))
        if key not in self._servers:
            binary = server_binary()
            if tensor_count(Path(gguf)) == 0:
                raise PublishError(f"{Path(gguf).name} is vocab-only (no weights): llama-server cannot serve it")
            self._servers[key] = _Server(binary, Path(gguf), self._logs, template)
        return self._servers[key]

    def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
        server, found = self.server(gguf, template), []
        for body in requests:
            status, answer = server.call("POST", "/apply-template", body)
            found.append(RenderOutcome(text=answer["prompt"]) if status == 200 else RenderOutcome(error=_error(answer)))
        return found

    def render(
        self,
        gguf: Path,
        conversations: Sequence[Sequence[ChatMessage]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        thinking: bool | None = None,
    ) -> list[RenderOutcome]:
        texts = [json.dumps(t) for t in tools]
        return self.apply(gguf, [served_request(messages, texts, thinking, ollama=False) for messages in conversations])

    def architecture(self, gguf: Path) -> str:
        return gguf_architecture(Path(gguf))

    def chat_template(self, gguf: Path) -> str | None:
        found = gguf_value(Path(gguf), CHAT_TEMPLATE)
        return found if isinstance(found, str) else None

    def tokenize(self, gguf: Path, texts: Sequence[str]) -> list[list[int]]:
        server, found = self.server(gguf), []
        for text in texts:
            status, answer = server.call("POST", "/tokenize", {"content": text, "add_special": True, "parse_special": True})
            if status != 200:
                raise PublishError(f"llama-server could not tokenize a prompt of {Path(gguf).name} ({_error(answer)})")
            found.append([int(t) for t in answer["tokens"]])
        return found
