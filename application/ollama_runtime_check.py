"""What Ollama 0.30.0+ renders a published model with (domain.ollama_runtime), and where that is the GGUF's own chat
template, the tool conversations proven on llama-server as Ollama hands them over (application.served_proof).

The TEMPLATE stays proven for what uses it: Ollama before 0.30.0, `OLLAMA_GO_TEMPLATE=1`, and every model Ollama keeps
on it. Where Ollama picks the GGUF's template, the record says so and why; its tools are listed as the model's in
Ollama 0.30.0+ only when llama-server renders every tool conversation as transformers does. A difference there is a
warning, not the gate: it is llama.cpp's runtime (its own `enable_thinking` default, its date, a Jinja feature its
engine lacks), which no file hubship writes can change.

Where Ollama keeps a TEMPLATE without tools although the chat template has them (it counts capabilities, and reads
none of thinking from a chat template without `<think>`), the same proof says whether the server setting
`OLLAMA_GO_TEMPLATE=0` (`envconfig.GoTemplate`, `shouldUseGoTemplate`: every model on the chat template) gives the
model tools: a note when it does, nothing otherwise (the setting is the user's choice, not the default). The choice
is modelled on the chat template the GGUF holds: one a publish wrote with THINKING_HINT (application.gguf_chat_template)
moves such a model to the chat template, and the record says why.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hubship.application.chat_inputs import render_with
from hubship.application.served_conversations import has_switch
from hubship.application.served_proof import prove_served
from hubship.domain.chat_template import ChatProfile
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.llama_cpp_template import is_patched
from hubship.domain.ollama_runtime import (
    GGUF_TEMPLATE,
    OLLAMA_VERSION,
    builtin_runtime,
    go_template_off,
    is_hinted,
    ollama_runtime,
)
from hubship.domain.served_requests import ollama_tool_cases
from hubship.ports.chat_renderer import ChatRenderer
from hubship.ports.served_chat import ServedChat

HARMONY_TYPES = ("gpt_oss",)
"""Model types whose GGUF architecture Ollama reads as harmony (`shouldUseHarmony`: `gptoss`, `gpt-oss`)."""
BUILTIN_WARNING = (
    "{why}: it, not the TEMPLATE, writes this model's prompts there (tools and thinking included), and hubship does not"
    " run Ollama's Go renderers, so that is not proven here; the TEMPLATE's proofs hold for the older Ollama, and for"
    " `ollama run hf.co/...` of the Hub repo's Ollama files, which no `ollama create` runs for"
)
NATIVE = (
    "Ollama {version} or later (OLLAMA_GO_TEMPLATE unset) renders this model with the GGUF's own chat template in llama.cpp,"
    " not with the TEMPLATE: {why}; Ollama before {version}, or with OLLAMA_GO_TEMPLATE=1, uses the TEMPLATE"
)
NATIVE_TOOLS = "tools there: llama-server renders the {cases} tool conversations as the chat template does (as Ollama sends them)"
HINTED = (
    "hubship wrote the GGUF's chat template with a Jinja comment before it that names <think> and </think> and renders"
    " nothing: the template reasons, and Ollama {version}+ reads that from a chat template's text only through those"
    " words; without them it would keep this model on its TEMPLATE, which has no tools"
)
PATCHED = (
    "hubship wrote the GGUF's chat template with two gaps of llama.cpp's Jinja engine patched, so that llama-server"
    " renders it as transformers renders the checkpoint's: a value written as text is written as Python writes it (None,"
    " True, a dict or list), and membership in a literal list of strings runs for a value of any type"
    " (docs/adr/027-llama-cpp-template-patch.md)"
)
NO_REASONING = "there, Ollama sends no message's reasoning to llama-server: none is written in history"
NATIVE_TOOLS_DIFFER = "tools on Ollama {version}+ reach the model otherwise than the chat template writes them: {difference}"
GO_TEMPLATE_OFF = (
    "tools on Ollama {version}+ with OLLAMA_GO_TEMPLATE=0 set on the server: it then renders every model with its GGUF's"
    " chat template in llama.cpp, and llama-server renders this model's {cases} tool conversations as the chat template"
    " does (as Ollama sends them); unset, Ollama keeps this model on its TEMPLATE, as it reads no more capabilities"
    " ({chat}) from the chat template than from the TEMPLATE ({go})"
)


RECORD = "ollama_runtime_record"
"""Where a GGUF artifact's verification keeps its runtime_record, with its runtime_key, for the Ollama artifact built
on the same file to take rather than prove again."""


def runtime_key(profile: ChatProfile, derived: Any, model_type: str) -> str:
    """What runtime_record's answer depends on besides the GGUF file: two derivations with one key get one record."""
    parts = [profile.template or "", profile.runtime_bos or "", sorted(profile.tokens.items()), derived.template or ""]
    parts += [list(derived.capabilities)]
    parts += [derived.parser, derived.system, model_type]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def harmony_of(model_type: str, template: str) -> bool:
    """Whether Ollama reads a model of `model_type` with this TEMPLATE as harmony (gpt-oss)."""
    return model_type in HARMONY_TYPES and "<|start|>" in template and "<|end|>" in template


def tool_proof(
    renderer: ChatRenderer,
    served: ServedChat,
    profile: ChatProfile,
    derived: Any,
    gguf: Path,
    thinking: bool,
    template: Path | None = None,
) -> tuple[int, str]:
    """The tool conversations as Ollama hands them to llama-server, for a model with the `thinking` capability or
    not: (how many, "" when llama-server renders each as transformers does, else the first difference). With each
    think value Ollama can send: unset, on and off to a model with the capability (it passes them on to llama-server
    whether or not the template reads them), or where the template has the switch. `template`: a chat template file
    llama-server serves instead of the GGUF's."""
    render = render_with(renderer, profile)
    # what reaches the template: Ollama turns an unset think on for a model it gives the thinking capability
    cases = ollama_tool_cases(derived.system, thinking or has_switch(render), thinking)
    return len(cases), prove_served(render, served, gguf, profile.runtime_bos, cases, template=template).why


def created_record(architecture: str) -> dict[str, Any] | None:
    """What a model made by `ollama create` (a Modelfile, the `ollama:` destination) gets instead of runtime_record
    where Ollama gives its GGUF's architecture (`general.architecture`) a built-in renderer; None where it does not."""
    builtin = builtin_runtime(architecture)
    if builtin is None:
        return None
    return {"metrics": {"ollama_runtime": builtin.renderer}, "notes": [], "warnings": [BUILTIN_WARNING.format(why=builtin.why)]}


def runtime_record(
    renderer: ChatRenderer, served: ServedChat, profile: ChatProfile, derived: Any, gguf: Path, model_type: str
) -> dict[str, Any]:
    """The metrics, notes, warnings and capabilities (`ollama_capabilities_native`) that Ollama 0.30.0+'s choice of
    renderer adds to the Ollama model's record (for one `ollama create` makes, see created_record first); `derived` an
    OllamaTemplate. Leaves llama-server running for the caller's next proof on `gguf`: the caller stops it."""
    template = derived.template or ""
    harmony = harmony_of(model_type, template)
    chat_template = served.chat_template(gguf) or ""
    runtime = ollama_runtime(chat_template, template, derived.capabilities, derived.parser, harmony)
    record: dict[str, Any] = {"metrics": {"ollama_runtime": runtime.renderer}, "notes": [], "warnings": []}
    if runtime.renderer != GGUF_TEMPLATE:
        chat = go_template_off(chat_template, derived.capabilities, derived.parser, harmony)
        if chat:
            cases = _go_template_off(renderer, served, profile, derived, gguf, chat)
            if cases:
                go = ", ".join(sorted(set(derived.capabilities) - {"completion"})) or "none"
                note = GO_TEMPLATE_OFF.format(version=OLLAMA_VERSION, cases=cases, chat=", ".join(sorted(chat)), go=go)
                record["metrics"]["ollama_go_template_off_tool_conversations"] = cases
                record["notes"].append(note)
        return record
    notes = [NATIVE.format(version=OLLAMA_VERSION, why=runtime.why)]
    if is_hinted(chat_template) and not is_hinted(profile.template or ""):
        notes.append(HINTED.format(version=OLLAMA_VERSION))
    if is_patched(chat_template) and not is_patched(profile.template or ""):
        notes.append(PATCHED)
    capabilities = ["completion", *sorted(runtime.capabilities - {"tools"})]
    if "thinking" in runtime.capabilities:
        notes.append(NO_REASONING)
    if "tools" in runtime.capabilities:
        try:
            cases, why = tool_proof(renderer, served, profile, derived, gguf, "thinking" in runtime.capabilities)
        except UserInputError as exc:  # llama-server not built here
            record["warnings"].append(f"tools on Ollama {OLLAMA_VERSION}+ are not proven: llama-server was not run ({exc})")
        else:
            if not why:
                notes.append(NATIVE_TOOLS.format(cases=cases))
                capabilities.insert(1, "tools")
                record["metrics"]["ollama_native_tool_conversations"] = cases
            else:
                record["warnings"].append(NATIVE_TOOLS_DIFFER.format(version=OLLAMA_VERSION, difference=why))
    record["metrics"]["ollama_capabilities_native"] = ", ".join(capabilities)
    record["notes"] = notes
    return record


def _go_template_off(
    renderer: ChatRenderer, served: ServedChat, profile: ChatProfile, derived: Any, gguf: Path, chat: frozenset[str]
) -> int:
    """How many tool conversations llama-server renders as transformers does for a model Ollama keeps on a TEMPLATE
    without tools, as Ollama hands them over with OLLAMA_GO_TEMPLATE=0 (`chat` the chat template's capabilities, as
    Ollama then reads them); 0 where one differs or llama-server is not built (the setting is the user's choice, not
    the default: nothing to warn of)."""
    try:
        cases, why = tool_proof(renderer, served, profile, derived, gguf, "thinking" in chat)
    except (UserInputError, PublishError):  # llama-server not built, or it failed on this GGUF: a note, not a failure
        return 0
    return 0 if why else cases
