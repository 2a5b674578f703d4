"""What the slow family tests share: a module's Ollama stand-in server and family models, and reading what a publish wrote (its
manifests, a GGUF's header fields)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubship.adapters.llama_cpp.gguf_header import contents
from tests.support.families import FAMILIES, build
from tests.support.ollama_server import StandInServer


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInServer]:
    """An Ollama stand-in for the test module (OLLAMA_HOST=standin.url)."""
    server = StandInServer(tmp_path_factory.mktemp("ollama"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def families(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """family name -> (base, checkpoint), each built once for the module on first use."""
    built: dict[str, tuple[Path, Path]] = {}

    def get(name: str) -> tuple[Path, Path]:
        if name not in built:
            built[name] = build(FAMILIES[name], tmp_path_factory.mktemp(name))
        return built[name]

    return get


def manifest(root: Path, fmt: str) -> dict[str, Any]:
    """The manifest of `fmt` published under `root/published/<name>/`."""
    (found,) = (root / "published").glob(f"*/{fmt}/manifest.json")
    return json.loads(found.read_text())


def verification(root: Path, fmt: str) -> dict[str, Any]:
    return manifest(root, fmt)["verification"]


def gguf_fields(path: Path) -> dict[str, Any]:
    """A GGUF's header fields (tokenizer arrays left out) and its tensor names."""
    metadata, tensors = contents(path)
    fields = {name: value for name, value in metadata.items() if not name.startswith("tokenizer.ggml.")}
    return {**fields, "tensors": set(tensors)}


def merged_and_gguf_passed(root: Path) -> dict[str, Any]:
    """Assert merged-16bit and gguf-q8_0 under `root` passed, merged exact and the GGUF's chat proof with no mismatch;
    the GGUF's verification record, for what a test checks beside."""
    merged, gguf = verification(root, "merged-16bit"), verification(root, "gguf-q8_0")
    assert merged["passed"] and merged["metrics"]["mean_kl"] < 1e-6
    assert gguf["passed"] and gguf["metrics"]["chat_token_check"] == "passed" and gguf["metrics"]["chat_token_mismatches"] == 0
    return gguf
