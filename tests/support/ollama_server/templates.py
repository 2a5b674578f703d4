"""How the stand-in judges a TEMPLATE and what a model may be asked: Ollama's rules, through hubship's Go checker.

The parse rules and the capabilities a TEMPLATE gives live in one place, the Go checker
(adapters/ollama/go_template/ollama_parse.go, written from Ollama's template/template.go and
server/images.go); the stand-in asks it and only adds what Ollama's server adds around it:

- `ollama create` (server/create.go, setTemplate): a TEMPLATE that `template.Parse` refuses fails the
  create with "template error: <Parse's error>", HTTP 400 (streamed: after "parsing GGUF", as an error line).
- capabilities (server/images.go, Capabilities): "completion" for a GGUF without pooling_type (every model
  the stand-in takes), then the template's own (tools, insert, thinking); no TEMPLATE: Ollama's default
  `{{ .Prompt }}`, which gives none; a built-in `parser` (server/create.go takes any name) adds its own.
- `ollama create` of a GGUF whose `general.architecture` Ollama gives a built-in RENDERER and PARSER (gemma4, laguna,
  nemotron_h*: domain.ollama_runtime.BUILTIN_BY_ARCHITECTURE) records them when the request names no RENDERER (a
  named PARSER is kept); `/api/show` lists them. The stand-in does not run Ollama's Go renderers: a chat or generate
  request to such a model is answered without a prompt, `standin.renderer` naming the renderer Ollama would use.
- chat and generate (server/routes.go, ChatHandler/GenerateHandler): `think` on (true, or "low"/"medium"/
  "high"/"max": api.ThinkValue.Bool) for a model without "thinking" is answered 400 `"<name as asked>" does
  not support thinking`; `tools` for a model without "tools" (chat only) 400 `<full name> does not support
  tools` (scheduleRunner wraps CheckCapabilities' error with the model's full name).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hubship.adapters.llama_cpp.gguf_header import architecture
from hubship.adapters.ollama.go_template_checker import GoTemplateChecker, OllamaParse
from hubship.domain.ollama_parsers import PARSERS, THINKING
from hubship.domain.ollama_runtime import BUILTIN_BY_ARCHITECTURE

DEFAULT_TEMPLATE = "{{ .Prompt }}"
THINK_LEVELS = ("low", "medium", "high", "max")


def default_checker() -> GoTemplateChecker:
    """The Go checker in a cache shared by every stand-in on this machine (compiled once per source)."""
    return GoTemplateChecker(Path(tempfile.gettempdir()) / "hubship-ollama-standin")


def create_error(parsed: OllamaParse) -> str | None:
    """The error `ollama create` answers for a TEMPLATE with this verdict (None: it is accepted)."""
    return None if parsed.error is None else f"template error: {parsed.error}"


def model_capabilities(parsed: OllamaParse | None, parser: str = "") -> list[str]:
    """The capabilities Ollama lists for a stand-in model: completion, then the TEMPLATE's, then its built-in PARSER's
    (server/images.go, parserCapabilities: `tools`, and `thinking` where the parser has it; an unknown name gives none)."""
    found = ["completion", *(parsed.capabilities if parsed else ())]
    extra = ["tools", *(["thinking"] if parser in THINKING else [])] if parser in PARSERS else []
    return found + [c for c in extra if c not in found]


def qualified(name: str) -> str:
    """Ollama's full model name (types/model/name.go): host/namespace/model:tag, defaults filled in."""
    path, tag = name, "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        path, tag = name.rsplit(":", 1)
    parts = path.split("/")
    host, namespace = "registry.ollama.ai", "library"
    if len(parts) == 3:
        host, namespace = parts[0], parts[1]
    elif len(parts) == 2:
        namespace = parts[0]
    return f"{host}/{namespace}/{parts[-1]}:{tag}"


def thinking_on(think: Any) -> bool:
    """Whether a request's `think` asks for thinking (api.ThinkValue.Bool)."""
    return think is True or (isinstance(think, str) and think in THINK_LEVELS)


def refusal(request: dict[str, Any], capabilities: list[str], *, chat: bool) -> str | None:
    """Ollama's 400 answer to a chat/generate request the model's capabilities do not allow (None: allowed)."""
    name = str(request.get("model") or "")
    if thinking_on(request.get("think")) and "thinking" not in capabilities:
        return f'"{name}" does not support thinking'
    if chat and request.get("tools") and "tools" not in capabilities:
        return f"{qualified(name)} does not support tools"
    return None


def builtin_renderer(state: Any, files: dict[str, str], fields: dict[str, Any]) -> dict[str, str]:
    """The RENDERER and PARSER `ollama create` gives a GGUF of some architectures where the request names no RENDERER
    (server/create.go, "Auto-detect renderer, parser, and stop tokens from GGUF architecture"; a named PARSER is kept):
    {} where it gives none. The architecture is the uploaded GGUF's `general.architecture`."""
    if fields.get("renderer"):
        return {}
    gguf = next((d for f, d in files.items() if f.endswith(".gguf")), next(iter(files.values())))
    builtin = BUILTIN_BY_ARCHITECTURE.get(architecture(state.blob(str(gguf))))
    if builtin is None:
        return {}
    return {"renderer": builtin[0], "parser": str(fields.get("parser") or builtin[1])}
