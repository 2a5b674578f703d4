"""Dropped connections against the local Hub server: a publish either completes with one commit, or fails
cleanly (one line, nothing committed) after a bounded number of attempts; a re-run then completes.

Bursts of 429/5xx, a lost commit answer and a Hub that keeps failing are covered in
tests/integration/test_hf_hub_errors.py; this adds connections that die mid-request.
"""

from __future__ import annotations

import pytest

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import HubshipError
from tests.support import hub_fixtures
from tests.support.hub_fixtures import ALICE_TOKEN, check_against_manifest, download

hub_env = hub_fixtures.hub_env  # `hub` comes from tests/reliability/conftest.py


container = hub_fixtures.hub_container  # a module-scoped container publishing to the stand-in Hub


@pytest.fixture(autouse=True)
def _no_faults_left(hub):
    yield
    hub.clear_faults()


def publish(container, checkpoint, repo: str):
    request = PublishRequest(checkpoint=str(checkpoint), formats=("lora",), destinations=(f"hf:{repo}",))
    return container.execute_plan().execute(request)


def assert_whole(hub, repo: str, tmp_path) -> None:
    assert len(hub.commits(repo)) == 1
    check_against_manifest(download(hub, repo, tmp_path / repo.replace("/", "_"), token=ALICE_TOKEN))


@pytest.mark.parametrize(
    ("where", "spec"),
    [
        pytest.param("lfs-batch", {"method": "POST", "path": r"/info/lfs/objects/batch$"}, id="lfs-batch"),
        pytest.param("preupload", {"method": "POST", "path": r"^/api/models/alice/drop-preupload/preupload/"}, id="preupload"),
        pytest.param("commit", {"method": "POST", "path": r"^/api/models/alice/drop-commit/commit/", "after_bytes": 100}, id="commit"),
        pytest.param("repo-create", {"method": "POST", "path": r"^/api/repos/create$"}, id="repo-create"),
    ],
)
def test_a_dropped_connection_is_retried_into_one_commit(where, spec, container, hub, tiny_model, tmp_path):
    repo = f"alice/drop-{where}"
    fault = hub.add_fault("drop", times=1, **spec)
    try:
        assert publish(container, tiny_model[1], repo).published == (repo,)
    except HubshipError as exc:  # a clean failure is allowed: one line, nothing committed; the re-run completes
        assert "\n" not in exc.message and exc.exit_code != 0
        assert repo not in hub.state.repos or hub.commits(repo) == []
        assert publish(container, tiny_model[1], repo).published == (repo,)
    assert fault.fired == 1
    assert_whole(hub, repo, tmp_path)


def test_an_upload_whose_connection_drops_twice_still_lands_in_one_commit(container, hub, tiny_model, tmp_path):
    """huggingface_hub retries a dropped LFS upload itself (with its own sleeps: only two drops here)."""
    repo = "alice/drop-upload"
    fault = hub.add_fault("drop", method="PUT", path=r"^/_lfs/alice/drop-upload/", after_bytes=1000, times=2)
    assert publish(container, tiny_model[1], repo).published == (repo,)
    assert fault.fired == 2
    assert_whole(hub, repo, tmp_path)


def test_a_commit_whose_connection_keeps_dropping_fails_cleanly_without_a_commit(container, hub, tiny_model):
    repo = "alice/drop-commit-always"
    fault = hub.add_fault("drop", method="POST", path=rf"^/api/models/{repo}/commit/", times=-1)
    with pytest.raises(HubshipError) as failed:
        publish(container, tiny_model[1], repo)
    assert "\n" not in failed.value.message and ALICE_TOKEN not in failed.value.message
    assert 1 <= fault.fired <= 5
    assert hub.commits(repo) == []
