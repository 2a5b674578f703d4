"""The workspace and `dir:` locks (the `filelock` library, the same code on every OS): a live holder keeps
them, a SIGKILLed one does not, and a publish sweeps what a killed publish left in its folder."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubship.adapters.local.dir_registry import LocalDirRegistry
from hubship.adapters.local.workspace import LocalDirWorkspace
from hubship.domain.destination import parse_destination
from hubship.domain.errors import UserInputError
from hubship.domain.manifest import FileEntry, Manifest
from hubship.domain.publication import Delivery, Publication
from tests.conftest import REPO
from tests.fakes.progress import FakeProgress

WORKSPACE_HOLDER = "from hubship.adapters.local.workspace import LocalDirWorkspace as W\nwith W({root!r}).lock('src'):\n"
FOLDER_HOLDER = "from hubship.adapters.local.dir_registry import _held\nfrom pathlib import Path\nwith _held(Path({root!r}), 'tiny'):\n"


def holder(code: str) -> Iterator[subprocess.Popen[str]]:
    """A process that takes the lock, says so, and holds it until killed."""
    script = code + "    print('held', flush=True)\n    import time; time.sleep(600)\n"
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def workspace_holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    yield from holder(WORKSPACE_HOLDER.format(root=str(tmp_path / "ws")))


@pytest.fixture
def folder_holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    (tmp_path / "dest" / "tiny").mkdir(parents=True)
    yield from holder(FOLDER_HOLDER.format(root=str(tmp_path / "dest")))


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_a_workspace_lock_is_refused_while_held_and_free_once_its_holder_is_killed(workspace_holder, tmp_path):
    with pytest.raises(UserInputError) as refused, LocalDirWorkspace(tmp_path / "ws").lock("src"):
        pass
    assert "\n" not in refused.value.message and "another hubship publish of this checkpoint is running" in refused.value.message

    kill(workspace_holder)  # no release runs: the operating system drops the lock with the process
    for _ in range(2):  # taken at once, and released on leaving
        with LocalDirWorkspace(tmp_path / "ws").lock("src"):
            pass


def test_a_workspace_lock_waits_its_wait_then_refuses(workspace_holder, tmp_path):
    with pytest.raises(UserInputError, match="another hubship publish"), LocalDirWorkspace(tmp_path / "ws", wait_seconds=1.0).lock("src"):
        pass


def publication(tmp_path: Path) -> Publication:
    source = tmp_path / "artifact"
    source.mkdir()
    (source / "adapter.safetensors").write_bytes(b"weights")
    entry = FileEntry("adapter.safetensors", 7, hashlib.sha256(b"weights").hexdigest())
    manifest = Manifest(name="tiny", format="lora", key="k" * 64, params={}, files=(entry,), inputs={}, tools={})
    return Publication(name="tiny", format="lora", source_dir=str(source), card="# tiny (lora)\n", manifest=manifest, relation="adapter")


def test_a_publish_waits_for_the_folder_and_publishes_once_its_holder_is_killed(folder_holder, tmp_path):
    dest = tmp_path / "dest"
    leftovers = [dest / "tiny" / ".lora.tmp-999999-deadbeef", dest / "tiny" / ".lora.old-cafebabe"]
    for folder in leftovers:  # what a publish killed mid-way leaves
        folder.mkdir()
        (folder / "adapter.safetensors").write_bytes(b"half")
    done: list[list[Delivery]] = []
    publishing = threading.Thread(
        target=lambda: done.append(LocalDirRegistry().publish(parse_destination(f"dir:{dest}"), [publication(tmp_path)], FakeProgress()))
    )
    publishing.start()
    publishing.join(timeout=2.0)
    assert publishing.is_alive() and not (dest / "tiny" / "lora").exists(), "the publish did not wait for the folder's holder"

    kill(folder_holder)
    publishing.join(timeout=60)
    assert [[d.location for d in delivered] for delivered in done] == [[str(dest / "tiny" / "lora")]]
    assert sorted(p.name for p in (dest / "tiny").iterdir()) == ["lora"]  # the leftovers are swept
    assert (dest / "tiny" / "lora" / "adapter.safetensors").read_bytes() == b"weights"
