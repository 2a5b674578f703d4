"""Shared fixtures: a tiny real Llama + LoRA checkpoint built once per session, containers, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from filelock import FileLock

from hubship.entrypoints.container import Container, create_container

REPO = Path(__file__).resolve().parents[1]
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):  # share the cores among the workers, before torch is imported
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a model hub
os.environ.setdefault("GLOG_minloglevel", "2")


T = TypeVar("T")
TINY_BASE_ID = "acme/tiny-llama"  # the hub id the tiny base's config names (tests/support/hub_fixtures.BASE_REPO)


def _shared(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """`build(folder)` once for the whole run: under pytest-xdist the workers share one folder (the first builds it
    under a file lock, the others wait and reuse it); without xdist a session folder of its own."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent / f"shared-{name}"  # the run's folder, above each worker's
    with FileLock(f"{root}.lock"):
        done = root / ".built.json"
        if done.is_file():
            return _from_json(json.loads(done.read_text()))
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        made = build(root)
        done.write_text(json.dumps(_to_json(made)))
        return made


def _to_json(value: Any) -> Any:
    if isinstance(value, Path):
        return {"path": str(value)}
    if isinstance(value, dict):
        return {"dict": {k: _to_json(v) for k, v in value.items()}}
    return {"tuple": [_to_json(v) for v in value]}


def _from_json(value: dict[str, Any]) -> Any:
    if "path" in value:
        return Path(value["path"])
    if "dict" in value:
        return {k: _from_json(v) for k, v in value["dict"].items()}
    return tuple(_from_json(v) for v in value["tuple"])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(base_dir, checkpoint_dir): a fp32 tiny Llama with a SentencePiece tokenizer and a non-zero LoRA (read-only: copy to modify).

    The base's config.json names its hub id (`_name_or_path`, as transformers wrote it for a model loaded from the
    Hub), so a published adapter can name its base; tests of an unnamed base remove it from a copy."""
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    def build(root: Path) -> tuple[Path, Path]:
        base, checkpoint = HfDemoCheckpointFactory().create(root, dtype="float32")
        config = json.loads((base / "config.json").read_text())
        (base / "config.json").write_text(json.dumps({**config, "_name_or_path": TINY_BASE_ID}, indent=2))
        return base, checkpoint

    return _shared(tmp_path_factory, "tiny", build)


@pytest.fixture(scope="session")
def real_checkpoints(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """What trainers really leave (tests/support/checkpoints.py): bitsandbytes bases `base-<variant>` (nf4, nf4-dq,
    int8, nf4-skip), QLoRA runs on them `qlora-<variant>` and a full fine-tune run `full` (read-only: copy to modify)."""
    from tests.support.checkpoints import build_all

    return _shared(tmp_path_factory, "real", lambda root: build_all(root, *tiny_model))


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
