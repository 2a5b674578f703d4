"""The bench's figures for Ollama 0.30.0+'s other renderer: per tool template, what Ollama renders a chat with (its
TEMPLATE or the GGUF's own chat template, domain.ollama_runtime), and where that is the GGUF's template, whether
llama-server (built from the pinned source) renders every tool conversation as transformers does when handed it as
Ollama hands it (application.served_proof); the same for the templates Ollama keeps on a TEMPLATE without tools, as
they would go with the server setting OLLAMA_GO_TEMPLATE=0. As a publish does (application.gguf_chat_template), the
candidates domain.ollama_runtime.gguf_templates gives (THINKING_HINT before the template, llama.cpp's engine gaps
patched) are served in turn, and a template counts as Ollama renders it with the first whose every tool conversation
renders equal; else it is evaluated as it is.

One tiny Llama GGUF with weights (SentencePiece `<s>`/`</s>`, adds BOS) serves every template through llama-server's
`--chat-template-file`; the Jinja reference gets the same special tokens.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from hubship.adapters.llama_cpp.converter import LlamaCppConverter
from hubship.adapters.llama_cpp.llama_server import LlamaServerServedChat
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
from hubship.application.served_proof import prove_served
from hubship.domain.llama_cpp_template import is_patched
from hubship.domain.ollama_runtime import GGUF_TEMPLATE, gguf_templates, go_template_off, is_hinted, jinja_capabilities, ollama_runtime
from hubship.domain.served_requests import ollama_tool_cases
from tests.fakes.progress import FakeProgress

TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}


def served_gguf(work: Path) -> Path:
    """The tiny GGUF every template is served with."""
    base, _ = HfDemoCheckpointFactory().create(
        work / "demo", dtype="float32", chat_tokens=("<|im_start|>", "<|im_end|>"), hidden_size=64, layers=1
    )
    converter, gguf = LlamaCppConverter(), work / "served.gguf"
    converter.convert(base, gguf, outtype="f16", name="served", base_model=None, license=None, progress=FakeProgress())
    converter.cool_down()
    shutil.rmtree(work / "demo", ignore_errors=True)
    return gguf


def native_figures(renderer: JinjaChatRenderer, work: Path, derived: Iterable[tuple[str, str, object, bool]]) -> dict[str, list[str]]:
    """For each (name, chat template, derived OllamaTemplate or None, has a think switch) of a tool template:
    `native` the templates Ollama 0.30.0+ renders with the GGUF's chat template, `native_equal` those llama-server
    renders equal on every tool conversation (unset, and on and off where the template has the switch), and
    `native_why` the first difference of the others (each think value Ollama can send, as application.ollama_runtime_check's
    tool_proof proves it); `hinted` and `patched` those of them served with THINKING_HINT or patched, `hint_why` why
    the last rewrite was not kept for others; `kept` the templates Ollama keeps on a TEMPLATE without tools, `kept_equal` those
    whose tool conversations llama-server renders equal with OLLAMA_GO_TEMPLATE=0, `kept_why`."""
    keys = ("native", "native_equal", "native_why", "hinted", "patched", "hint_why", "kept", "kept_equal", "kept_why")
    found: dict[str, list[str]] = {k: [] for k in keys}
    gguf = served_gguf(work)
    with LlamaServerServedChat() as served:

        def why_not(name: str, text: str, served_text: str, switch: bool, thinking: bool) -> str:
            file = work / f"{name}.jinja"
            file.write_text(served_text)

            def render(messages, **options):
                return renderer.render(text, TOKENS, messages, **options)

            cases = ollama_tool_cases(None, switch, thinking)
            try:
                return prove_served(render, served, gguf, TOKENS["bos_token"], cases, template=file).why
            finally:
                served.close()

        for name, text, template, switch in derived:
            capabilities, parser = getattr(template, "capabilities", ()), getattr(template, "parser", "")
            go = getattr(template, "template", "") or ""
            candidates = gguf_templates(text, go, capabilities, parser) if template is not None else ()
            kept, dropped = None, ""
            for candidate in candidates:
                why = why_not(name, text, candidate, True, "thinking" in jinja_capabilities(candidate))
                if not why:
                    kept = candidate
                    break
                dropped = f"{name}: {why}" if candidate != text else dropped
            if kept is not None and kept != text:
                found["native"].append(name)
                found["native_equal"].append(name)
                found["hinted"].extend([name] if is_hinted(kept) else [])
                found["patched"].extend([name] if is_patched(kept) else [])
                continue
            found["hint_why"].extend([dropped] if dropped else [])
            runtime = ollama_runtime(text, go, capabilities, parser)
            native = runtime.renderer == GGUF_TEMPLATE
            chat = runtime.capabilities if native else go_template_off(text, capabilities, parser)
            if not (native or chat):
                continue
            group = "native" if native else "kept"
            found[group].append(name)
            why = why_not(name, text, text, switch or "thinking" in chat, "thinking" in chat)  # as tool_proof sends them
            found[f"{group}_why" if why else f"{group}_equal"].append(f"{name}: {why}" if why else name)
    return found
