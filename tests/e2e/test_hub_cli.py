"""`hubship publish --to hf:` as a user runs it, against the local Hub stand-in.

A publish killed mid-upload completes on re-run with one commit and without re-sending what the
server already holds; a canary token is found in no output (debug on, with a traceback), card,
manifest, uploaded file or workspace file. (A rejected token's absence from the error is checked
in tests/integration/test_hf_hub_errors.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support import hub_fixtures
from tests.support.hub_fixtures import hub_environment, lfs_objects

pytestmark = pytest.mark.slow
hub = hub_fixtures.hub  # the module's fixture


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


def test_killed_mid_upload_then_rerun_commits_once_without_resending(hub, tiny_model, workspace, tmp_path, cli):
    env = hub_environment(hub, tmp_path / "home")
    args = ["publish", str(tiny_model[1]), "-f", "lora", "--to", "hf:alice/killed", "-w", str(workspace), "-q"]
    # tokenizer.model (245 kB) stalls half sent; adapter_model.safetensors (135 kB) gets through
    hub.add_fault("stall", method="PUT", path="^/_lfs/alice/killed/", min_size=200_000, after_bytes=100_000, times=-1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubship", *args], cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:  # one object is half sent and the other stored when the process dies
        hub.wait_for(lambda: hub.faults.stalled >= 1 and len(hub.completed_uploads("alice/killed")) >= 1, timeout=300)
    finally:
        proc.kill()
        proc.wait()
        hub.clear_faults()
    assert hub.commits("alice/killed") == []
    stored_before = set(hub.completed_uploads("alice/killed"))
    seen = len(hub.uploads)

    rerun = cli(*args, env=env)

    assert rerun.returncode == 0, rerun.stderr
    assert len(hub.commits("alice/killed")) == 1
    resent = [u["oid"] for u in hub.uploads[seen:]]
    assert resent and not set(resent) & stored_before
    done = hub.completed_uploads("alice/killed")
    assert len(done) == len(set(done)) == len(lfs_objects(hub, "alice/killed"))  # each LFS object stored once


def test_a_canary_token_is_found_nowhere(hub, tiny_model, workspace, tmp_path, cli):
    canary = "hf_" + "CanaryToken" * 3 + "Zz"
    hub.add_user("alice", canary)
    home = tmp_path / "home"
    env = {**hub_environment(hub, home), "HF_TOKEN": canary, "HUBSHIP_DEBUG": "1"}
    ckpt = str(tiny_model[1])
    hub.add_fault("status", path="^/api/models/alice/canary-b/commit/", status=500, times=-1)
    try:  # alice/canary-a is committed, then alice/canary-b fails: a traceback is printed (debug on)
        to = ["--to", "hf:alice/canary-a", "--to", "hf:alice/canary-b"]
        half = cli("publish", ckpt, "-f", "lora", *to, "-w", str(workspace), env=env)
    finally:
        hub.clear_faults()
    assert half.returncode == 1 and "Traceback" in half.stderr
    assert half.stderr.strip().splitlines()[-1].startswith("hubship: error: the Hub kept failing while committing on alice/canary-b")
    assert len(hub.commits("alice/canary-a")) == 1 and hub.commits("alice/canary-b") == []

    for output in (half.stdout, half.stderr):
        assert canary not in output
    stored = [p for folder in (hub.state.objects, workspace, home) for p in folder.rglob("*") if p.is_file()]
    assert stored
    for path in stored:
        assert canary.encode() not in path.read_bytes(), path
