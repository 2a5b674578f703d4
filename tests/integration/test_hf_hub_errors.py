"""Every way a publish to the Hub can fail gives one line naming the cause and the fix, exits non-zero, and commits nothing.

Also: retries of 429/5xx bursts, a lost commit answer, the token scan and the pickle refusal.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from hubship.application.publish_request import PublishRequest
from hubship.domain.destination import Destination
from hubship.domain.errors import HubshipError, PublishError, UserInputError
from hubship.domain.manifest import FileEntry, Manifest
from hubship.domain.publication import Publication
from tests.fakes.progress import FakeProgress
from tests.support import hub_fixtures
from tests.support.hub_fixtures import ALICE_TOKEN

hub, hub_env = hub_fixtures.hub, hub_fixtures.hub_env  # the module's fixtures

WRONG_TOKEN = "hf_" + "WrongToken" * 4


container = hub_fixtures.hub_container  # a module-scoped container publishing to the stand-in Hub


@pytest.fixture(scope="module")
def checkpoint(tiny_model) -> Path:
    return tiny_model[1]


@pytest.fixture(autouse=True)
def _no_faults_left(hub):
    yield
    hub.clear_faults()


def publish(container, checkpoint: Path, to: str, **options):
    request = PublishRequest(checkpoint=str(checkpoint), formats=("lora",), destinations=(to,), options=options)
    return container.execute_plan().execute(request)


def fails(container, checkpoint: Path, to: str, kind: type[HubshipError] = HubshipError, **options) -> HubshipError:
    with pytest.raises(kind) as info:
        publish(container, checkpoint, to, **options)
    error = info.value
    assert "\n" not in error.message and error.exit_code != 0
    assert ALICE_TOKEN not in error.message and WRONG_TOKEN not in error.message
    return error


def nothing_committed(hub, repo_id: str) -> bool:
    return repo_id not in hub.state.repos or hub.commits(repo_id) == []


def test_a_bad_token_is_401_before_any_work(container, checkpoint, hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", WRONG_TOKEN)
    error = fails(container, checkpoint, "hf:alice/e401", UserInputError)
    assert "HTTP 401" in error.message and "the token" in error.message and "HF_TOKEN" in error.message
    assert nothing_committed(hub, "alice/e401")


def test_no_token_and_the_token_file(container, checkpoint, hub, monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN")
    assert "no Hub token found" in fails(container, checkpoint, "hf:alice/tokenfile", UserInputError).message
    missing = fails(container, checkpoint, "hf:alice/tokenfile", UserInputError, token_file=str(tmp_path / "none"))
    assert "--token-file" in missing.message
    (tmp_path / "token").write_text(ALICE_TOKEN + "\n")
    assert publish(container, checkpoint, "hf:alice/tokenfile", token_file=str(tmp_path / "token")).published == ("alice/tokenfile",)


@pytest.mark.parametrize(
    ("owner", "expected"),
    [("bob", "HTTP 403"), ("readers", "HTTP 403"), ("nobody", "HTTP 404")],
    ids=["another-user", "read-only-org", "unknown-owner"],
)
def test_owners_one_cannot_write_to(container, checkpoint, hub, owner, expected):
    error = fails(container, checkpoint, f"hf:{owner}/model", UserInputError)
    assert expected in error.message and owner in error.message
    assert nothing_committed(hub, f"{owner}/model")


def test_a_conflict_409_fails_cleanly(container, checkpoint, hub):
    hub.add_fault("status", path="^/api/models/alice/e409/commit/", status=409, times=-1)
    error = fails(container, checkpoint, "hf:alice/e409", PublishError)
    assert "HTTP 409" in error.message and "re-run" in error.message
    assert nothing_committed(hub, "alice/e409")


def test_a_concurrent_writer_makes_the_publish_fail_with_412(container, checkpoint, hub):
    hub.add_fault("concurrent_commit", path="^/api/models/alice/e412/commit/")
    error = fails(container, checkpoint, "hf:alice/e412", PublishError)
    assert "HTTP 412" in error.message and "nothing was committed" in error.message
    assert [c["title"] for c in hub.commits("alice/e412")] == ["concurrent change"]
    assert "adapter_model.safetensors" not in hub.files("alice/e412")


def test_bursts_of_429_and_5xx_are_retried_into_one_commit(container, checkpoint, hub):
    hub.add_fault("status", path=r"^/alice/burst\.git/info/lfs/objects/batch$", status=429)
    hub.add_fault("status", path="^/api/models/alice/burst/commit/", status=503, times=2)
    hub.add_fault("status", path="^/api/repos/create$", status=502)
    assert publish(container, checkpoint, "hf:alice/burst").published == ("alice/burst",)
    assert len(hub.commits("alice/burst")) == 1
    assert all(f.fired == f.times for f in hub.faults.active)


def test_a_lost_commit_answer_is_not_committed_twice(container, checkpoint, hub):
    hub.add_fault("after", path="^/api/models/alice/lost/commit/", status=500)
    assert publish(container, checkpoint, "hf:alice/lost").published == ("alice/lost",)
    assert len(hub.commits("alice/lost")) == 1


@pytest.mark.parametrize("status", [503, 429])
def test_a_hub_that_keeps_failing_gives_up_after_bounded_retries(container, checkpoint, hub, status):
    repo = f"alice/down{status}"
    hub.add_fault("status", path=f"^/api/models/{repo}/commit/", status=status, times=-1)
    error = fails(container, checkpoint, f"hf:{repo}", PublishError)
    assert f"HTTP {status}, 5 attempts" in error.message
    assert hub.faults.active[0].fired == 5
    assert nothing_committed(hub, repo)


def test_an_unreachable_endpoint_is_one_line(container, checkpoint, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    error = fails(container, checkpoint, "hf:alice/unreachable", PublishError)
    assert f"cannot reach the Hub at http://127.0.0.1:{port}" in error.message and "HF_ENDPOINT" in error.message


def test_a_text_file_holding_a_token_blocks_the_publish(container, checkpoint, hub, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(checkpoint, leaky)
    (leaky / "chat_template.jinja").write_text("{# debug: HF_TOKEN=" + WRONG_TOKEN + " #}{{ messages[0]['content'] }}")
    requests = len(hub.requests)
    error = fails(container, leaky, "hf:alice/leaky", UserInputError)
    assert error.message.startswith("refusing to publish: lora/chat_template.jinja contains what looks like a Hugging Face token")
    assert "alice/leaky" not in hub.state.repos
    assert not [r for r in hub.requests[requests:] if r[0] in ("PUT", "POST") and "whoami" not in r[1]]


def test_a_pickle_is_never_uploaded(container, hub, tmp_path):
    import pickle

    (tmp_path / "training_args.bin").write_bytes(pickle.dumps({"hub_token": "secret"}))
    (tmp_path / "config.json").write_text("{}")
    files = tuple(FileEntry(p.name, p.stat().st_size, "0" * 64) for p in sorted(tmp_path.iterdir()))
    manifest = Manifest(name="m", format="lora", key="k" * 64, params={}, files=files, inputs={}, tools={})
    pub = Publication(name="m", format="lora", source_dir=str(tmp_path), card="# card\n", manifest=manifest, relation="adapter")
    requests = len(hub.requests)
    with pytest.raises(UserInputError, match=r"refusing to publish lora/training_args\.bin: it is a pickle"):
        container.hf_registry().publish(Destination("hf", "alice/pickled", options={"formats": ("lora",)}), [pub], FakeProgress())
    assert len(hub.requests) == requests
