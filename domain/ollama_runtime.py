"""Which renderer a current Ollama uses for a model hubship creates: its TEMPLATE, or the GGUF's own chat template run
by llama.cpp. Modelled from Ollama's source as read (v0.30.0, May 2026, ollama PR 16031; not copied):

- `server/images.go`, `GetModel`: with `OLLAMA_GO_TEMPLATE` unset, a model with a TEMPLATE and a GGUF chat template,
  no RENDERER, no PARSER and not read as harmony prefers the GGUF's template when `shouldPreferChatTemplate` says so;
  `server/routes.go`, `shouldUseGoTemplate` and `chatModeForModel`: the chat then goes to llama-server ("native": the
  messages and tools as JSON, rendered and parsed by llama.cpp), and the TEMPLATE is not used.
- `shouldPreferChatTemplate`: when the chat template's capabilities outnumber the TEMPLATE's, unless the TEMPLATE has a
  tool round trip and the chat template has none; when both have the same ones, tools among them, when the chat
  template has a tool round trip and the TEMPLATE has none.
- `chatTemplateCapabilities`: `tools` when the chat template's text holds `tools` or `tool_call`; `thinking` when it
  holds `<think>` and `</think>`, or splits content at `</think>` and names neither `reasoning_content` nor
  `<SPECIAL_12>`. `chatTemplateHasToolRoundTrip`: tools, `tool_calls` (or `assistant_tool_call`), and a tool result
  (`tool_response`, `tool_results`, a role test against `tool` written one of six ways, or `ipython`).
- `goTemplateCapabilities`: `tools` when the TEMPLATE's names include `.Tools`, `insert` for `.Suffix`, `thinking`
  when Ollama infers its thinking tags. `goTemplateHasToolRoundTrip`: `.Tools` and `.ToolCalls` among its names and
  the text `eq .Role "tool"`, `tool_response` or `TOOL_RESULTS` in it.

The strings are what Ollama looks for, so they are matched as written, however the template uses them.

Where Ollama would keep a TEMPLATE that reasons but has no tools only because it reads no thinking from a chat
template that reasons without the literal `<think>` (the capabilities tie), `thinking_hint` gives the chat template to
write into the GGUF instead: THINKING_HINT, a Jinja comment that renders nothing and holds that text, then the chat
template. Ollama then reads thinking and tools from it and renders with it in llama.cpp, where the caller proves the
tool conversations (docs/adr/026-ollama-thinking-hint.md).

Before any of this, `ollama create` (`server/create.go`, "Auto-detect renderer, parser, and stop tokens from GGUF
architecture") gives a GGUF of some architectures Ollama's own built-in renderer and parser (BUILTIN) where the
Modelfile names no RENDERER (a PARSER it names is kept): that renderer, Go code of Ollama's, then writes every prompt,
and neither the TEMPLATE nor the chat template is used.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import attrs

from hubship.domain.llama_cpp_template import patch_for_llama_cpp

TEMPLATE = "TEMPLATE"
GGUF_TEMPLATE = "GGUF chat template"
OLLAMA_VERSION = "0.30.0"
"""The first Ollama that renders a chat with the GGUF's own template (ollama PR 16031)."""
ROUND_TRIP = 'eq .Role "tool"'
"""The role test whose text Ollama reads as a TEMPLATE's tool round trip (hubship's TEMPLATEs with tools write it)."""
BUILTIN = "built-in renderer"
"""What `ollama_runtime` metrics say, followed by the renderer's name, where Ollama renders with its own Go code."""
BUILTIN_BY_ARCHITECTURE = {
    "gemma4": ("gemma4", "gemma4", "0.20.0"),
    "laguna": ("laguna", "laguna", "0.22.0"),
    "nemotron_h": ("nemotron-3-nano", "nemotron-3-nano", "0.22.0"),
    "nemotron_h_moe": ("nemotron-3-nano", "nemotron-3-nano", "0.22.0"),
    "nemotron_h_omni": ("nemotron-3-nano", "nemotron-3-nano", "0.22.0"),
}
"""GGUF architecture: (renderer, parser, the first Ollama that sets them at `ollama create`: ollama PR 15214 for
gemma4; commits 8b062e4 for laguna and 0f86757 for nemotron_h*, both in v0.22.0)."""

_TOOL_RESULT = (
    "tool_response",
    "tool_results",
    "role'] == 'tool'",
    'role\'] == "tool"',
    "role\"] == 'tool'",
    'role"] == "tool"',
    "message.role == 'tool'",
    'message.role == "tool"',
    "ipython",
)


def jinja_capabilities(chat_template: str) -> frozenset[str]:
    """`chatTemplateCapabilities`: the capabilities Ollama reads from a GGUF's chat template."""
    found = set()
    if "tools" in chat_template or "tool_call" in chat_template:
        found.add("tools")
    splits = "content.split('</think>')" in chat_template or 'content.split("</think>")' in chat_template
    named = "reasoning_content" in chat_template or "<SPECIAL_12>" in chat_template
    if ("<think>" in chat_template and "</think>" in chat_template) or (splits and not named):
        found.add("thinking")
    return frozenset(found)


def jinja_round_trip(chat_template: str) -> bool:
    """`chatTemplateHasToolRoundTrip`."""
    calls = "tool_calls" in chat_template or "assistant_tool_call" in chat_template
    return "tools" in jinja_capabilities(chat_template) and calls and any(s in chat_template for s in _TOOL_RESULT)


_ACTION = re.compile(r"""\{\{((?:"(?:\\.|[^"\\])*"|`[^`]*`|'(?:\\.|[^'\\])*'|/\*.*?\*/|[^"`'/}]|/(?!\*)|\}(?!\}))*)\}\}""", re.S)
"""An action, up to the `}}` that ends it: not one inside a string, raw string, character literal or comment."""
_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"|`[^`]*`|\'(?:\\.|[^\'\\])*\'|/\*.*?\*/', re.S)
_IDENT = re.compile(r"(?<![\w.)\]])(\$\w*)?((?:\.[A-Za-z_]\w*)+)")


def _names(template: str) -> set[str]:
    """The names Ollama's `Vars` gives a Go template, lower-cased: each field chain (`.Function.Name`: function, name)
    and variable chain (`$m.Role`: $m, role) of its actions. Text outside the actions, string and character literals
    and comments name nothing; nor does a field read off a parenthesised pipeline, `(...).Field` (a chain node, which
    `Identifiers` passes over; it also passes over the names inside those parentheses, which this reading keeps)."""
    names: set[str] = set()
    for action in _ACTION.findall(template):
        for var, fields in _IDENT.findall(_LITERAL.sub(" ", action)):
            names |= {var.lower()} - {""} | {f.lower() for f in fields.split(".") if f}
    return names


def go_round_trip(template: str) -> bool:
    """`goTemplateHasToolRoundTrip`."""
    names = _names(template)
    marked = ROUND_TRIP in template or "tool_response" in template or "TOOL_RESULTS" in template
    return {"tools", "toolcalls"} <= names and marked


def _listed(capabilities: frozenset[str]) -> str:
    return ", ".join(sorted(capabilities)) or "none"


@attrs.frozen
class OllamaRuntime:
    """`renderer` what renders the chat on Ollama 0.30.0 or later with default settings (TEMPLATE, GGUF_TEMPLATE, or
    BUILTIN followed by its name), `why` in words; `capabilities` the chat template's as Ollama reads them (when it is
    the one used)."""

    renderer: str
    why: str
    capabilities: frozenset[str] = frozenset()


def builtin_runtime(architecture: str) -> OllamaRuntime | None:
    """The built-in renderer `ollama create` gives a GGUF of `architecture` (its `general.architecture`) and a
    Modelfile without RENDERER, where it gives one: it renders instead of ollama_runtime's choice."""
    if architecture not in BUILTIN_BY_ARCHITECTURE:
        return None
    renderer, parser, since = BUILTIN_BY_ARCHITECTURE[architecture]
    why = (
        f"`ollama create` (Ollama {since} or later) gives a GGUF of architecture {architecture} Ollama's built-in"
        f" renderer `{renderer}` and parser `{parser}` (a PARSER the Modelfile names is kept); Ollama before {since}"
        " renders with the TEMPLATE"
    )
    return OllamaRuntime(f"{BUILTIN} {renderer}", why)


def ollama_runtime(
    chat_template: str, template: str, go_capabilities: Collection[str], parser: str = "", harmony: bool = False
) -> OllamaRuntime:
    """What Ollama 0.30.0+ renders a chat with (see the module docstring) for a model without a RENDERER.
    `go_capabilities` the TEMPLATE's as Ollama reads them (`tools`, `thinking`, `insert`; `completion` is ignored);
    `parser` the Modelfile's PARSER; `harmony` whether Ollama reads the model as harmony (gpt-oss)."""
    if not chat_template:
        return OllamaRuntime(TEMPLATE, "the GGUF has no chat template")
    if parser or harmony:
        return OllamaRuntime(TEMPLATE, f"the model has {'a PARSER' if parser else 'the harmony format'}, so Ollama keeps the TEMPLATE")
    jinja, go = jinja_capabilities(chat_template), frozenset(go_capabilities) - {"completion"}
    if len(jinja) > len(go):
        prefer = not go_round_trip(template) or jinja_round_trip(chat_template)
        why = f"the GGUF's chat template reads as having more capabilities ({_listed(jinja)}) than the TEMPLATE ({_listed(go)})"
    elif jinja == go and "tools" in jinja:
        prefer = jinja_round_trip(chat_template) and not go_round_trip(template)
        why = "the GGUF's chat template reads as having a tool round trip and the TEMPLATE does not"
    else:
        prefer, why = False, ""
    if prefer:
        return OllamaRuntime(GGUF_TEMPLATE, why, jinja)
    return OllamaRuntime(TEMPLATE, "the TEMPLATE has the capabilities Ollama reads from the GGUF's chat template")


THINKING_HINT = (
    "{# hubship: this template reasons; Ollama 0.30+ reads that from a chat template only where its text holds <think>"
    " and </think>, so this comment names them #}"
)
"""What `thinking_hint` puts before a chat template: a Jinja comment (no output, in every engine), no newline after it
(an engine without `trim_blocks` would write it)."""


def is_hinted(chat_template: str) -> bool:
    """Whether a chat template starts with THINKING_HINT."""
    return chat_template.startswith(THINKING_HINT)


def thinking_hint(chat_template: str, template: str, go_capabilities: Collection[str], parser: str = "", harmony: bool = False) -> str:
    """The chat template with THINKING_HINT before it where that alone moves Ollama 0.30.0+ from a TEMPLATE without
    tools to the chat template, which has them: the TEMPLATE (`template`, whose capabilities as Ollama reads them are
    `go_capabilities`) reasons, so the chat template it was derived from does too, but Ollama reads no thinking from
    the chat template's text. Else `chat_template` itself. Only for a template that starts with `{` (a tag, an output
    or a comment): nothing then stands between the comment and it for `lstrip_blocks` or `trim_blocks` to act on."""
    go, chat = frozenset(go_capabilities), jinja_capabilities(chat_template)
    reasons_unread = "thinking" in go and "thinking" not in chat
    if not (reasons_unread and "tools" in chat and "tools" not in go and chat_template.startswith("{")):
        return chat_template
    hinted = THINKING_HINT + chat_template
    before = ollama_runtime(chat_template, template, go, parser, harmony).renderer
    after = ollama_runtime(hinted, template, go, parser, harmony).renderer
    return hinted if before == TEMPLATE and after == GGUF_TEMPLATE else chat_template


def gguf_templates(
    chat_template: str, template: str, go_capabilities: Collection[str], parser: str = "", harmony: bool = False
) -> tuple[str, ...]:
    """The chat templates a GGUF may carry for Ollama 0.30.0+ to render it in llama.cpp with tools, best first: the
    checkpoint's (with THINKING_HINT where thinking_hint gives it), then the same with llama.cpp's engine gaps patched
    (domain.llama_cpp_template). Each is one Ollama renders with the chat template and reads tools from; the caller
    proves them in that order and writes the first that llama-server renders as transformers does. Empty where the
    checkpoint's own is the only one (nothing to prove before converting)."""
    found = []
    for text in (chat_template, patch_for_llama_cpp(chat_template)):
        text = thinking_hint(text, template, go_capabilities, parser, harmony)
        runtime = ollama_runtime(text, template, go_capabilities, parser, harmony)
        if runtime.renderer == GGUF_TEMPLATE and "tools" in runtime.capabilities and text not in found:
            found.append(text)
    return () if found in ([], [chat_template]) else tuple(found)


def go_template_off(chat_template: str, go_capabilities: Collection[str], parser: str = "", harmony: bool = False) -> frozenset[str]:
    """For a model Ollama keeps on its TEMPLATE: the capabilities it reads from the chat template with the server
    setting `OLLAMA_GO_TEMPLATE=0` (`shouldUseGoTemplate`: every model without a PARSER or harmony on its chat
    template), where that gives tools the TEMPLATE lacks; empty otherwise."""
    chat = jinja_capabilities(chat_template)
    gives = "tools" in chat and "tools" not in go_capabilities and not (parser or harmony)
    return chat if gives else frozenset()
