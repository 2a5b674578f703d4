"""Fixtures the chat-template tests share: transformers' Jinja renderer and the Go template helper."""

from __future__ import annotations

import pytest

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.adapters.torch.chat_renderer import JinjaChatRenderer


@pytest.fixture(scope="module")
def renderer() -> JinjaChatRenderer:
    return JinjaChatRenderer()


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> GoTemplateChecker:
    return GoTemplateChecker(tmp_path_factory.mktemp("go-cache"))
