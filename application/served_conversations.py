"""Tools and thinking on every published GGUF, as llama-server renders its own chat template: the runtime llama-server
and LM Studio users chat through, and Ollama 0.30.0+ where it picks the GGUF's template. The token-level proof
(application.chat_proof) covers the plain conversations; this adds the tool conversations (one and two tools, one and
two calls, results, a call beside a content, a call after reasoning) and the reasoning ones (reasoning in history, the
think switch on and off), sent as an OpenAI-compatible client sends them and compared with transformers' render
(application.served_proof). Only what the template uses is sent: tools when it writes them, reasoning when it writes
it, the switch when it has one.

A difference is a warning, as llama-server's differences in the token-level proof are: it is llama.cpp's runtime (its
own `enable_thinking` when the request sets none, today's date, a Jinja feature its engine lacks or runs otherwise),
which no file hubship writes can change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from hubship.application.chat_inputs import render_with
from hubship.application.served_proof import prove_served
from hubship.domain.chat_template import ChatMessage, Render, TemplateRejected
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.template_check import REASONING_CONVERSATIONS, check_cases
from hubship.domain.tool_check import WEATHER, tool_cases
from hubship.ports.chat_renderer import ChatRenderer
from hubship.ports.chat_runtime import ChatRuntime
from hubship.ports.served_chat import ServedChat

EQUAL = "llama-server renders the {cases} {kinds} conversations as the chat template does (sent as an OpenAI-compatible client sends them)"
DIFFER = "llama-server renders {count} of the {cases} {kinds} conversations otherwise than the chat template ({first})"
_ASK = ChatMessage("user", "Hi")


def _prompt(render: Render, messages: list[ChatMessage], **mode: Any) -> str | None:
    try:
        prefill = messages[-1].role == "assistant"
        return render(messages, add_generation_prompt=not prefill, continue_final=prefill, **mode)
    except TemplateRejected:
        return None


def has_switch(render: Render) -> bool:
    """Whether the generation prompt depends on `enable_thinking` (unset, on, off)."""
    return len({_prompt(render, [_ASK], think=t) for t in (None, True, False)}) > 1


def uses(render: Render) -> tuple[bool, bool]:
    """(writes the tools it is given, writes reasoning: in an answered turn or before a prefill)."""
    tools = _prompt(render, [_ASK], tools=(WEATHER,)) != _prompt(render, [_ASK])
    said, plain = ChatMessage("assistant", "Hello", thinking="The user greets me."), ChatMessage("assistant", "Hello")
    again = ChatMessage("user", "Again")
    reasoning = any(_prompt(render, [_ASK, said, *tail]) != _prompt(render, [_ASK, plain, *tail]) for tail in ([], [again]))
    return tools, reasoning


def served_conversations(
    renderer: ChatRenderer, runtime: ChatRuntime, served: ServedChat, checkpoint: Checkpoint, base: BaseInfo, gguf: Path
) -> dict[str, Any]:
    """What the GGUF's record gets: metrics (`served_chat_conversations`, `served_chat_differences`), notes, warnings.
    Leaves llama-server running: call it before the token-level proof (application.chat_proof), which stops it."""
    profile = renderer.profile(checkpoint, base)
    if profile.template is None:
        return {"metrics": {}, "notes": [], "warnings": []}
    profile = attrs.evolve(profile, add_bos=runtime.vocab(gguf).add_bos)
    render = render_with(renderer, profile)
    (tools, reasoning), switch = uses(render), has_switch(render)
    settings = (None, True, False) if switch else (None,)
    cases = [c for t in settings for c in tool_cases(None, (None,), t, reasoning=reasoning)] if tools else []
    cases += [c for t in settings for c in check_cases(None, True, (None,), t, REASONING_CONVERSATIONS)] if reasoning or switch else []
    kinds = " and ".join(k for k, used in (("tool", tools), ("reasoning", reasoning or switch)) if used)
    if not cases:
        return {"metrics": {}, "notes": [], "warnings": []}
    try:  # the server stays up for the caller's token-level proof of the same GGUF, which stops it
        proof = prove_served(render, served, gguf, profile.runtime_bos, cases, ollama=False)
    except UserInputError as exc:  # llama-server not built here
        return {"metrics": {}, "notes": [], "warnings": [f"llama-server was not run on the {kinds} conversations ({exc})"]}
    metrics = {"served_chat_conversations": len(cases), "served_chat_differences": len(proof.differences)}
    if not proof.differences:
        return {"metrics": metrics, "notes": [EQUAL.format(cases=len(cases), kinds=kinds)], "warnings": []}
    warning = DIFFER.format(count=len(proof.differences), cases=len(cases), kinds=kinds, first=proof.differences[0])
    return {"metrics": metrics, "notes": [], "warnings": [warning]}
