"""The GGUF intermediate's chat template (application.gguf_chat_template): converted with the thinking hint where Ollama
0.30.0+ would keep the model on a TEMPLATE without tools for want of reading its thinking, and kept only where
llama-server renders the hinted file's tool conversations as transformers renders the checkpoint's template; else the
same with llama.cpp's Jinja gaps patched where that renders so; converted again with the checkpoint's own template
otherwise. A template Ollama already renders in llama.cpp is proven as it is first, and patched only where it fails.
The derivations and Jinja are real; the converter, llama-server and
the Hub Ollama files' cache are fakes (tests/integration/test_ollama_native.py publishes the kept case for real)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer
from hubship.application.chat_inputs import render_with
from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import INTERMEDIATE_INFO
from hubship.application.formats.gguf_hub_ollama import OllamaFiles
from hubship.application.formats.gguf_intermediate import GgufIntermediateFormat
from hubship.application.ollama_template import derive_ollama_template, for_hub
from hubship.application.ollama_tools import jinja_outcome
from hubship.application.served_proof import native_case
from hubship.domain.chat_template import ChatProfile
from hubship.domain.errors import PublishError
from hubship.domain.llama_cpp_template import patch_for_llama_cpp
from hubship.domain.ollama_runtime import THINKING_HINT
from hubship.domain.served_requests import ollama_tool_cases
from hubship.domain.template_check import RenderOutcome
from tests.fakes.progress import FakeProgress
from tests.support.template_collection import profile_for, templates_dir

KIMI_K3 = "Kimi-K3"  # reasons between tags of its own, tools without a TEMPLATE for them: hinted
SEED_OSS = "ByteDance-Seed-OSS"  # the same shape; llama.cpp cannot build its tool-call parser
QWEN3 = "Qwen-Qwen3-0.6B"  # Ollama reads its thinking (<think>): nothing to hint
MINICPM5 = "openbmb-MiniCPM5-1B"  # on the chat template already; llama.cpp writes no nested argument unpatched


def text(name: str) -> str:
    return (templates_dir() / f"{name}.jinja").read_text(encoding="utf-8")


class Renderer(JinjaChatRenderer):
    """transformers' Jinja, with the checkpoint's profile given."""

    def __init__(self, profile: ChatProfile) -> None:
        super().__init__()
        self._profile = profile

    def profile(self, checkpoint: Any, base: Any) -> ChatProfile:
        return self._profile


class Converter:
    """Records the chat template each conversion writes (None: the checkpoint's own)."""

    def __init__(self) -> None:
        self.templates: list[str | None] = []

    def convert(self, model_dir: Path, out_file: Path, *, settings: Any, **_: Any) -> None:
        self.templates.append(settings.chat_template)
        out_file.write_text(settings.chat_template or "")  # the template it holds, for the fake llama-server to read

    def convert_projector(self, *_: Any, **__: Any) -> bool:
        return False


class Served:
    """llama-server as a fake: `answer` renders the requests (as transformers does, or an error for each), or raises;
    `by_template` what it answers instead for a chat template (served from a file or held by the GGUF: the fake
    converter writes it there); `files` the texts served from files."""

    def __init__(self, answer: Any = None, built: bool = True, by_template: Mapping[str, Any] | None = None) -> None:
        self.answer, self.built, self.closed, self.requests = answer, built, False, 0
        self.by_template, self.files = dict(by_template or {}), []

    def available(self) -> bool:
        return self.built

    def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
        self.requests += len(requests)
        if template is not None:
            self.files.append(template.read_text(encoding="utf-8"))
        held = template.read_text(encoding="utf-8") if template is not None else gguf.read_text()
        answer = self.by_template.get(held, self.answer)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    def close(self) -> None:
        self.closed = True


def _made(name: str, tmp_path: Path) -> OllamaFiles:
    profile = profile_for(text(name))
    derived = for_hub(derive_ollama_template(JinjaChatRenderer(), GoTemplateChecker(tmp_path / "go"), profile, allow_generic=True))
    return OllamaFiles(files={"template": derived.template}, profile=profile, derived=derived)


def _equal(made: OllamaFiles) -> list[RenderOutcome]:
    """What a llama-server that renders as transformers does answers to the hint's proof (every think value, on)."""
    render = render_with(JinjaChatRenderer(), made.profile)
    cases = ollama_tool_cases(made.derived.system, True, True)
    return [jinja_outcome(render, made.profile.runtime_bos, native_case(c)) for c in cases]


def _build(tmp_path: Path, made: OllamaFiles, served: Served) -> tuple[Converter, FakeProgress, dict[str, Any]]:
    converter, progress = Converter(), FakeProgress()
    services = {"chat_renderer": Renderer(made.profile), "converter": converter, "served_chat": served}
    preflight = SimpleNamespace(run=lambda *_: tmp_path / "vocab.gguf", ollama=SimpleNamespace(files_for=lambda *_: made))
    params = {"outtype": "f16", "name": "m", "base_model": None, "license": None, "bos": "tokenizer"}
    out = tmp_path / "out"
    out.mkdir()
    ctx = BuildContext(
        checkpoint=SimpleNamespace(),
        base=SimpleNamespace(model_type="llama"),
        params=params,
        inputs={"merged-16bit": tmp_path},
        out_dir=out,
        progress=progress,
        services=services,
    )  # type: ignore[arg-type]
    GgufIntermediateFormat(preflight).build(ctx)  # type: ignore[arg-type]
    return converter, progress, json.loads((out / INTERMEDIATE_INFO).read_text())


def test_a_hint_llama_server_renders_as_transformers_does_stays_in_the_gguf(tmp_path: Path) -> None:
    made = _made(KIMI_K3, tmp_path)
    served = Served(_equal(made))
    converter, progress, info = _build(tmp_path, made, served)
    assert converter.templates == [THINKING_HINT + text(KIMI_K3)] and "thinking_hint" not in info
    assert served.requests == len(_equal(made)) > len(ollama_tool_cases(None, False, True)) and served.closed  # off too
    assert not progress.messages


def test_a_hint_llama_server_renders_otherwise_is_converted_away_and_said(tmp_path: Path) -> None:
    made = _made(SEED_OSS, tmp_path)
    failing = [RenderOutcome(error="Unable to generate parser for this template.") for _ in _equal(made)]
    converter, progress, info = _build(tmp_path, made, Served(failing))
    assert converter.templates == [THINKING_HINT + text(SEED_OSS), None]
    said = info["thinking_hint"]  # the last rewrite's: the hint and the patch
    assert said.startswith(
        "the GGUF carries the checkpoint's chat template as it is: with a comment naming <think> and </think> before it"
        " and with llama.cpp's Jinja gaps patched, Ollama 0.30.0+ would render"
    )
    assert "in llama.cpp, where tools: " in said and "llama-server fails (Unable to generate parser" in said
    assert progress.messages == [said]


def test_a_server_that_does_not_start_proves_nothing_and_the_card_says_why(tmp_path: Path) -> None:
    made = _made(KIMI_K3, tmp_path)
    stopped = PublishError("llama-server did not load m.F16.gguf in 120 s (llama_model_load: error loading model)")
    converter, _, info = _build(tmp_path, made, Served(stopped))
    assert converter.templates == [THINKING_HINT + text(KIMI_K3), None]
    said = "could not be proven here (llama-server did not serve the GGUF: llama-server did not load m.F16.gguf in 120 s (llama_model_load"
    assert said in info["thinking_hint"] and "/tmp" not in info["thinking_hint"]


@pytest.mark.parametrize(
    ("name", "built", "files"), [(KIMI_K3, False, True), (KIMI_K3, True, False), (QWEN3, True, True)], ids=["unbuilt", "no-files", "reads"]
)
def test_no_hint_where_it_cannot_be_proven_no_template_ships_or_ollama_reads_the_thinking(tmp_path, name, built, files) -> None:
    made = _made(name, tmp_path)
    made = made if files else OllamaFiles(reason="Go is not installed", profile=made.profile)
    served = Served(RuntimeError("not asked"), built=built)
    converter, _, info = _build(tmp_path, made, served)
    assert converter.templates == [None] and "thinking_hint" not in info and served.requests == 0


def test_a_template_llama_server_renders_as_transformers_does_is_converted_once_and_not_rewritten(tmp_path: Path) -> None:
    made = _made(MINICPM5, tmp_path)
    served = Served(_equal(made))
    converter, progress, info = _build(tmp_path, made, served)
    assert converter.templates == [None] and served.files == [] and served.requests == len(_equal(made))
    assert "thinking_hint" not in info and not progress.messages


def test_where_only_the_patched_template_renders_as_transformers_does_the_gguf_is_converted_again_with_it(tmp_path: Path) -> None:
    made = _made(MINICPM5, tmp_path)
    failing = [RenderOutcome(text="differs") for _ in _equal(made)]
    patched = patch_for_llama_cpp(text(MINICPM5))
    served = Served(failing, by_template={patched: _equal(made)})
    converter, progress, info = _build(tmp_path, made, served)
    assert converter.templates == [None, patched] and served.files == [patched]
    assert served.requests == 3 * len(_equal(made))  # as it is, patched from a file, then patched in the GGUF itself
    assert "thinking_hint" not in info and not progress.messages
    assert not list((tmp_path / "out").glob("*.jinja"))  # the served file is not left beside the GGUF


def test_a_later_candidate_the_gguf_does_not_render_as_its_file_did_is_converted_away(tmp_path: Path) -> None:
    made = _made(MINICPM5, tmp_path)
    patched, failing = patch_for_llama_cpp(text(MINICPM5)), [RenderOutcome(text="differs") for _ in _equal(made)]

    class FileOnly(Served):  # proves from a file only, as where the GGUF holds a tool_use template the file replaced
        def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
            self.by_template = {patched: _equal(made)} if template is not None else {}
            return super().apply(gguf, requests, template)

    converter, progress, info = _build(tmp_path, made, FileOnly(failing))
    assert converter.templates == [None, patched, None]
    assert info["thinking_hint"].startswith("the GGUF carries the checkpoint's chat template as it is: with llama.cpp's")
    assert progress.messages == [info["thinking_hint"]]


def test_the_hinted_template_patched_is_kept_where_the_hint_alone_fails(tmp_path: Path) -> None:
    made = _made(SEED_OSS, tmp_path)
    both = THINKING_HINT + patch_for_llama_cpp(text(SEED_OSS))
    failing = [RenderOutcome(error="Unable to generate parser for this template.") for _ in _equal(made)]
    converter, progress, info = _build(tmp_path, made, Served(failing, by_template={both: _equal(made)}))
    assert converter.templates == [THINKING_HINT + text(SEED_OSS), both]
    assert "thinking_hint" not in info and not progress.messages


def test_where_llama_server_does_not_serve_the_gguf_no_other_candidate_is_tried(tmp_path: Path) -> None:
    made = _made(SEED_OSS, tmp_path)
    served = Served(PublishError("llama-server did not load m.F16.gguf in 120 s"))
    converter, _, info = _build(tmp_path, made, served)
    assert converter.templates == [THINKING_HINT + text(SEED_OSS), None] and served.files == []
    assert "and with llama.cpp's Jinja gaps patched" in info["thinking_hint"] and "did not load" in info["thinking_hint"]
