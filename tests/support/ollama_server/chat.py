"""The stand-in's `/api/chat` and `/api/generate`: Ollama's checks and its prompt, no model behind them.

A request is checked as Ollama's ChatHandler/GenerateHandler (server/routes.go) check it: the model must
exist (404), `think` and `tools` must be in the model's capabilities (400, templates.py), then the prompt
is rendered from the model's TEMPLATE by the Go checker as Ollama renders it (SYSTEM injected, messages
merged, the request's tools, tool calls, results, thinking and think switch handed over); a TEMPLATE that
fails at execution (a conversation the model's chat template rejects) is answered 500 with text/template's
error, as Ollama does. What the stand-in answers instead of a model:
an empty assistant message, done, with the prompt it would have fed the model under `standin.prompt`.
"""

from __future__ import annotations

import json
import time
from typing import Any

from hubship.domain.chat_template import ChatMessage, ToolCall
from hubship.domain.template_check import OllamaCase
from tests.support.ollama_server.state import OllamaState
from tests.support.ollama_server.templates import DEFAULT_TEMPLATE, refusal

Answer = tuple[int, dict[str, Any]]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _prompt(state: OllamaState, record: dict[str, Any], case: OllamaCase) -> tuple[str | None, str | None]:
    """(prompt, None) or (None, text/template's error)."""
    (outcome,) = state.checker.render(record.get("template") or DEFAULT_TEMPLATE, [case])
    return outcome.text, outcome.error


def _message(m: dict[str, Any]) -> ChatMessage:
    """A request message as Ollama's API has it: tool calls (arguments an object), thinking, a tool result's name and id."""
    calls = tuple(
        ToolCall(str(c["function"]["name"]), json.dumps(c["function"].get("arguments") or {}), str(c.get("id") or ""))
        for c in m.get("tool_calls") or []
    )
    return ChatMessage(
        str(m.get("role", "")),
        str(m.get("content") or ""),
        calls,
        str(m.get("thinking") or ""),
        str(m.get("tool_name") or ""),
        str(m.get("tool_call_id") or ""),
    )


def _model(state: OllamaState, request: dict[str, Any], *, chat: bool) -> dict[str, Any] | Answer:
    """The model's record, or Ollama's answer when the model is missing or cannot serve this request."""
    name = str(request.get("model") or "")
    record = state.model(name) if name else None
    if record is None:
        return 404, {"error": f"model '{name}' not found"}
    refused = refusal(request, record.get("capabilities") or ["completion"], chat=chat)
    return (400, {"error": refused}) if refused else record


def chat(state: OllamaState, request: dict[str, Any]) -> Answer:
    record = _model(state, request, chat=True)
    if isinstance(record, tuple):
        return record
    done = {"model": request["model"], "created_at": _now(), "message": {"role": "assistant", "content": ""}, "done": True}
    messages = tuple(_message(m) for m in request.get("messages") or [])
    if not messages:
        return 200, {**done, "done_reason": "load"}
    if record.get("renderer"):  # Ollama's own Go renderer writes the prompt: not modelled here
        return 200, {**done, "done_reason": "stop", "standin": {"renderer": record["renderer"]}}
    tools = tuple(json.dumps(t) for t in request.get("tools") or [])
    think = request.get("think") if isinstance(request.get("think"), bool) else None
    prompt, error = _prompt(state, record, OllamaCase(messages, record.get("system") or "", None, tools, think))
    if error is not None:
        return 500, {"error": error}
    return 200, {**done, "done_reason": "stop", "standin": {"prompt": prompt}}


def generate(state: OllamaState, request: dict[str, Any]) -> Answer:
    record = _model(state, request, chat=False)
    if isinstance(record, tuple):
        return record
    done = {"model": request["model"], "created_at": _now(), "response": "", "done": True}
    text = str(request.get("prompt") or "")
    if not text:
        return 200, {**done, "done_reason": "load"}
    if request.get("raw"):
        return 200, {**done, "done_reason": "stop", "standin": {"prompt": text}}
    if record.get("renderer"):  # Ollama's own Go renderer writes the prompt: not modelled here
        return 200, {**done, "done_reason": "stop", "standin": {"renderer": record["renderer"]}}
    system = str(request.get("system") or record.get("system") or "")
    messages = (*([ChatMessage("system", system)] if system else []), ChatMessage("user", text))
    prompt, error = _prompt(state, record, OllamaCase(messages))
    if error is not None:
        return 500, {"error": error}
    return 200, {**done, "done_reason": "stop", "standin": {"prompt": prompt}}
