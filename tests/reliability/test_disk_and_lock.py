"""A full disk, a read-only destination, and two publishes of one checkpoint into one workspace at once.

The full disk is real: a 1 MB tmpfs (mounted when the tests run as root with mount rights, else skipped),
and the system probe is swapped through the container for one that reports plenty of free space, so the
plan's disk preflight lets the publish start and the write itself meets ENOSPC.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from dependency_injector import providers

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import HubshipError, PublishError, UserInputError
from hubship.entrypoints.container import create_container
from tests.fakes.system_probe import FakeSystemProbe

FORMATS = ("lora,merged-16bit",)  # about 2.3 MB in all: does not fit a 1 MB disk


def _mount(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB filesystem; `remount(size)` grows it (the user frees space)."""
    disk = tmp_path / "small-disk"
    if not _mount(disk, "size=1m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def grow(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)


@pytest.fixture
def make_container(tmp_path: Path):
    """A container that believes every disk has room (so the write, not the preflight, meets the full disk)."""

    def make(workspace: Path):
        made = create_container({"workspace": workspace, "quiet": True})
        made.probe.override(providers.Object(FakeSystemProbe()))
        return made

    return make


def publish(container, checkpoint: Path, workspace: Path, to: str):
    request = PublishRequest(checkpoint=str(checkpoint), formats=FORMATS, destinations=(to,), name="tiny", options={"dtype": "fp32"})
    return container(workspace).execute_plan().execute(request)


def one_line(error: HubshipError) -> str:
    assert "\n" not in error.message
    return error.message


def test_a_full_workspace_disk_fails_in_one_line_and_leaves_no_partial_artifact(small_disk, make_container, tiny_model, tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(PublishError) as failed:
        publish(make_container, tiny_model[1], small_disk, f"dir:{dest}")
    assert "No space left on device" in one_line(failed.value)
    whole = {a.name for a in (small_disk / "artifacts").iterdir()}
    assert whole and all((small_disk / "artifacts" / key / ".complete").is_file() for key in whole)  # the adapter fit
    assert not any((small_disk / "tmp").iterdir()) and not dest.exists()

    grow(small_disk)  # the user frees space: the same workspace works, and what was built is reused
    result = publish(make_container, tiny_model[1], small_disk, f"dir:{dest}")
    assert {a.key for a in result.artifacts if a.reused} == whole
    assert sorted(p.name for p in (dest / "tiny").iterdir()) == ["lora", "merged-16bit"]


def test_a_full_destination_disk_fails_in_one_line_and_shows_no_partial_artifact(small_disk, make_container, tiny_model, tmp_path):
    workspace = tmp_path / "ws"
    with pytest.raises(PublishError) as failed:
        publish(make_container, tiny_model[1], workspace, f"dir:{small_disk}")
    assert "ran out of disk space" in one_line(failed.value) and "nothing was left half-written" in failed.value.message
    for folder in (small_disk / "tiny").iterdir() if (small_disk / "tiny").exists() else ():
        assert not folder.name.startswith("."), "a temporary folder was left behind"
        manifest = json.loads((folder / "manifest.json").read_text())  # a folder under a final name is whole
        assert all((folder / f["path"]).stat().st_size == f["size"] for f in manifest["files"])

    grow(small_disk)
    result = publish(make_container, tiny_model[1], workspace, f"dir:{small_disk}")
    assert all(a.reused for a in result.artifacts)  # the workspace kept every build
    assert sorted(p.name for p in (small_disk / "tiny").iterdir()) == ["lora", "merged-16bit"]


def test_a_read_only_destination_is_refused_before_any_work(make_container, tiny_model, tmp_path):
    disk = tmp_path / "read-only"
    if not _mount(disk, "ro,size=1m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    try:
        with pytest.raises(UserInputError) as refused:
            publish(make_container, tiny_model[1], tmp_path / "ws", f"dir:{disk}")
        assert "is not writable" in one_line(refused.value)
        assert not (tmp_path / "ws" / "artifacts").exists() or not any((tmp_path / "ws" / "artifacts").iterdir())
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_second_publish_of_the_same_checkpoint_into_one_workspace_fails_in_one_line(zygote, tiny_model, tmp_path):
    """The first publish holds the workspace's lock (flock, in this test's process); the second, another
    process, is refused at once with one line; once the first is done, the same command succeeds."""
    workspace = tmp_path / "ws"
    first = create_container({"workspace": workspace, "quiet": True})
    request = PublishRequest(checkpoint=str(tiny_model[1]), formats=("lora",), destinations=(f"dir:{tmp_path / 'dest'}",))
    source_key = first.plan_publish().execute(request).plan.source_key
    argv = ["publish", str(tiny_model[1]), "-f", "lora", "--to", f"dir:{tmp_path / 'dest'}", "-w", str(workspace), "-q"]
    with first.workspace().lock(source_key[:16]):
        second = zygote.cli(*argv, cwd=tmp_path)
        assert second.code == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "another hubship publish of this checkpoint is running" in lines[0]
        assert not (tmp_path / "dest").exists() and not any((workspace / "artifacts").iterdir())
    again = zygote.cli(*argv, cwd=tmp_path)
    assert again.code == 0, again.stderr
    assert [p.parent.name for p in (tmp_path / "dest").rglob("manifest.json")] == ["lora"]
