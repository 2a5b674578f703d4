"""The GGUF intermediate's chat template (application.ollama_thinking_hint): converted with the thinking hint where Ollama
0.30.0+ would keep the model on a TEMPLATE without tools for want of reading its thinking, converted again with the
checkpoint's own template where llama-server does not render the hinted one's tool conversations as transformers does.
The derivation and Jinja are real; the converter and llama-server are fakes (tests/integration/test_ollama_native.py
publishes the kept case for real)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer
from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import INTERMEDIATE_INFO, Preflight
from hubship.application.formats.gguf_intermediate import GgufIntermediateFormat
from hubship.application.ollama_thinking_hint import thinking_hint_for
from hubship.domain.chat_template import ChatProfile
from hubship.domain.errors import PublishError
from hubship.domain.ollama_runtime import THINKING_HINT
from hubship.domain.template_check import RenderOutcome
from tests.fakes.progress import FakeProgress
from tests.support.template_collection import profile_for, templates_dir

SEED_OSS = "ByteDance-Seed-OSS"  # reasons without <think>, tools without a TEMPLATE for them; llama.cpp fails on it
QWEN3 = "Qwen-Qwen3-0.6B"  # Ollama reads its thinking (<think>): nothing to hint


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
        out_file.write_bytes(b"GGUF")

    def convert_projector(self, *_: Any, **__: Any) -> bool:
        return False


class FailingServer:
    """llama-server as a fake that cannot build this template's tool-call parser."""

    def __init__(self) -> None:
        self.closed = False

    def apply(self, gguf: Path, requests: Sequence[Mapping[str, Any]], template: Path | None = None) -> list[RenderOutcome]:
        raise PublishError("llama-server could not render: Unable to generate parser for this template")

    def close(self) -> None:
        self.closed = True


def _build(tmp_path: Path, name: str) -> tuple[Converter, FailingServer, FakeProgress, dict[str, Any]]:
    profile = profile_for((templates_dir() / f"{name}.jinja").read_text(encoding="utf-8"))
    converter, served, progress = Converter(), FailingServer(), FakeProgress()
    services = {
        "chat_renderer": Renderer(profile),
        "go_templates": GoTemplateChecker(tmp_path / "go"),
        "converter": converter,
        "served_chat": served,
    }
    params = {"outtype": "f16", "name": "m", "base_model": None, "license": None, "bos": "tokenizer"}
    out = tmp_path / "out"
    out.mkdir()
    ctx = BuildContext(
        checkpoint=SimpleNamespace(), base=SimpleNamespace(model_type="seed_oss"), params=params,
        inputs={"merged-16bit": tmp_path}, out_dir=out, progress=progress, services=services,
    )  # type: ignore[arg-type]
    GgufIntermediateFormat(Preflight()).build(ctx)
    return converter, served, progress, json.loads((out / INTERMEDIATE_INFO).read_text())


def test_a_hint_llama_server_cannot_render_is_converted_away_and_said(tmp_path: Path) -> None:
    converter, served, progress, info = _build(tmp_path, SEED_OSS)
    text = (templates_dir() / f"{SEED_OSS}.jinja").read_text(encoding="utf-8")
    assert converter.templates == [THINKING_HINT + text, None] and served.closed
    assert info["thinking_hint"].startswith("the GGUF carries the checkpoint's chat template as it is: with a comment naming")
    assert "Unable to generate parser" in info["thinking_hint"] and progress.messages == [info["thinking_hint"]]


def test_a_template_ollama_reads_as_thinking_gets_no_hint_and_no_derivation(tmp_path: Path) -> None:
    converter, served, _, info = _build(tmp_path, QWEN3)
    assert converter.templates == [None] and "thinking_hint" not in info and not served.closed
    services = {"chat_renderer": Renderer(profile_for("{{ messages }}")), "go_templates": None}
    assert thinking_hint_for(SimpleNamespace(), SimpleNamespace(), services) is None  # no tools read: not derived
