"""Shared fixtures: a tiny real Llama + LoRA checkpoint built once per session, containers, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubship.entrypoints.container import Container, create_container

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(base_dir, checkpoint_dir): a fp32 tiny Llama with a SentencePiece tokenizer and a non-zero LoRA (read-only: copy to modify)."""
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    root = tmp_path_factory.mktemp("tiny")
    return HfDemoCheckpointFactory().create(root, dtype="float32")


@pytest.fixture
def checkpoint_copy(tiny_model: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the tiny checkpoint (same base), safe to break."""
    dst = tmp_path / "my-finetune"
    shutil.copytree(tiny_model[1], dst)
    return dst


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    """A container with a private workspace; override ports with `container.<port>.override(fake)`."""
    made = create_container({"workspace": tmp_path / "workspace", "quiet": True})
    yield made
    made.reset_override()


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `python -m hubship ARGS` as a user would, capturing stdout and stderr."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "hubship", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli
