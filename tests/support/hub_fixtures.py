"""Fixtures and helpers for tests that publish to the local Hub stand-in (import them into a test module).

Accounts on the server: `alice` (token ALICE_TOKEN) who writes to her own namespace and to org `acme`,
and is a read-only member of org `readers`; `bob`, another user. `nobody` exists nowhere.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from hubship.adapters.hub.registry import HfHubRegistry
from hubship.entrypoints.container import create_container
from tests.fakes.progress import FakeProgress
from tests.support.hub_server import HubServer

ALICE_TOKEN = "hf_" + "AliceWritesModels" * 2  # 34 letters: the Hub's token format
BOB_TOKEN = "hf_" + "BobWritesElsewhere" * 2
BASE_REPO = "acme/tiny-llama"


def start_hub(root: Path) -> HubServer:
    server = HubServer(root).start()
    server.add_user("alice", ALICE_TOKEN)
    server.add_user("bob", BOB_TOKEN)
    server.add_org("acme", {"alice": "write"})
    server.add_org("readers", {"alice": "read"})
    return server


def hub_environment(server: HubServer, home: Path) -> dict[str, str]:
    """What a user publishing to `server` sets: the endpoint, the token, LFS instead of Xet, online, a private cache."""
    return {
        "HF_ENDPOINT": server.url,
        "HF_TOKEN": ALICE_TOKEN,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    server = start_hub(tmp_path_factory.mktemp("hub-data"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hub_env(hub: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of `hub_environment`, in this process too.

    huggingface_hub reads HF_HUB_OFFLINE, HF_HUB_DISABLE_XET, HF_HUB_CACHE and its token path once, at
    import (tests/conftest.py sets HF_HUB_OFFLINE=1 before that), so the values it read are set as well.
    """
    import huggingface_hub.constants as constants

    home = tmp_path_factory.mktemp("hf-home")
    env = hub_environment(hub, home)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        mp.setattr(constants, "HF_HUB_OFFLINE", False)
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        mp.setattr(constants, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
        mp.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
        yield env


def host_base(server: HubServer, base_dir: Path, checkpoint_dir: Path, dest: Path, repo_id: str = BASE_REPO) -> Path:
    """Put the tiny base on the server as `repo_id`, download it into the HF cache (as `hf download` would),
    and return a copy of the checkpoint that names it by that id. Needs `hub_env`."""
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi(endpoint=server.url, token=ALICE_TOKEN)
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=base_dir, commit_message="tiny base")
    snapshot_download(repo_id, endpoint=server.url, token=ALICE_TOKEN)
    shutil.copytree(checkpoint_dir, dest)
    config = json.loads((dest / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = repo_id
    (dest / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return dest


def download(server: HubServer, repo_id: str, dest: Path, revision: str = "main", token: str | None = ALICE_TOKEN) -> Path:
    """snapshot_download of a repo from the server into `dest`."""
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, revision=revision, endpoint=server.url, token=token, local_dir=dest))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_against_manifest(folder: Path, manifest_name: str = "manifest.json") -> dict[str, Any]:
    """Assert every file the manifest lists is in `folder` with its size and sha256; return the manifest."""
    manifest = json.loads((folder / manifest_name).read_text())
    for entry in manifest["files"]:
        path = folder / entry["path"]
        assert path.is_file(), f"{entry['path']} was not downloaded"
        assert path.stat().st_size == entry["size"], entry["path"]
        assert sha256_of(path) == entry["sha256"], entry["path"]
    return manifest


def changed_paths(server: HubServer, repo_id: str, commit: dict[str, Any]) -> set[str]:
    """Paths a commit added, changed or removed compared with its parent."""
    parent = server.state.repos[repo_id].commits[commit["parents"][0]]["files"]
    files = commit["files"]
    return {p for p in set(files) | set(parent) if files.get(p, {}).get("oid") != parent.get(p, {}).get("oid")}


def lfs_objects(server: HubServer, repo_id: str, revision: str = "main") -> set[str]:
    """The sha256 of every LFS file in the repo at `revision`."""
    return {e["sha256"] for e in server.files(repo_id, revision).values() if e["lfs"]}


@pytest.fixture(scope="module")
def hub_container(hub_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A container publishing to the stand-in Hub with no retry back-off and no progress bars."""
    made = create_container({"workspace": tmp_path_factory.mktemp("workspace"), "quiet": True})
    made.hf_registry.override(providers.Singleton(HfHubRegistry, backoff_seconds=0.0))
    made.progress.override(providers.Singleton(FakeProgress))
    yield made
    made.reset_override()
