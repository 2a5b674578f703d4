"""`hubship verify hf:OWNER/NAME[@REVISION]` as a user runs it, against the local Hub stand-in.

The repo is a GGUF repo of two quantizations (stand-in GGUF files, LFS): each has its own
`<format>.manifest.json` beside one shared card. Verify reads the file listing and the small files
only; a file changed after the publish is named, and an older revision still verifies.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from dependency_injector import providers

from hubship.application.format_registry import FormatRegistry
from hubship.application.publish_request import PublishRequest
from tests.support import hub_fixtures
from tests.support.hub_fixtures import ALICE_TOKEN, hub_environment
from tests.support.stand_in_gguf import GGUF_HEADER, StandInGgufFormat

hub, hub_env, container = hub_fixtures.hub, hub_fixtures.hub_env, hub_fixtures.hub_container  # the module's fixtures
pytestmark = pytest.mark.slow
REPO_ID = "alice/checked-GGUF"


@pytest.fixture(scope="module")
def published(container, hub, tiny_model) -> str:
    """hf:alice/checked published with gguf-q8_0 and gguf-q4_k_m (stand-ins): the repo alice/checked-GGUF; its head."""
    formats = [StandInGgufFormat("Q8_0", payload=b"\x01" * 4096), StandInGgufFormat("Q4_K_M", payload=b"\x02" * 2048)]
    container.formats.override(providers.Object(FormatRegistry(formats)))
    request = PublishRequest(checkpoint=str(tiny_model[1]), formats=("gguf-q8_0", "gguf-q4_k_m"), destinations=("hf:alice/checked",))
    container.execute_plan().execute(request)
    assert {"gguf-q8_0.manifest.json", "gguf-q4_k_m.manifest.json", "model.Q8_0.gguf"} <= set(hub.files(REPO_ID))
    return hub.state.resolve(hub.state.repos[REPO_ID], "main")


def test_a_republish_says_up_to_date_once_per_artifact(container, published, tiny_model):
    request = PublishRequest(checkpoint=str(tiny_model[1]), formats=("gguf-q8_0", "gguf-q4_k_m"), destinations=("hf:alice/checked",))
    again = container.execute_plan().execute(request)
    url = f"https://huggingface.co/{REPO_ID}"  # the repo's page (links name the Hub, as cards do)
    assert [o.line() for o in again.outcomes] == [
        f"up to date: gguf-q8_0 -> {url} (4.1 kB; not measured)",
        f"up to date: gguf-q4_k_m -> {url} (2.1 kB; not measured)",
    ]
    assert again.skipped == (REPO_ID,)


def test_verify_checks_each_manifest_from_the_listing_without_downloading_weights(published, hub, cli, tmp_path):
    env = hub_environment(hub, tmp_path / "home")
    before = len(hub.requests)
    result = cli("verify", f"hf:{REPO_ID}", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"checked hf:{REPO_ID}@{published[:12]}/gguf-q4_k_m.manifest.json",
        f"checked hf:{REPO_ID}@{published[:12]}/gguf-q8_0.manifest.json",
        "all files match their manifests",
    ]
    assert f"check it with `hubship verify hf:{REPO_ID}`" in hub.file_bytes(REPO_ID, "README.md").decode()  # what the card says
    fetched = [path for method, path, _ in hub.requests[before:] if method == "GET" and "/resolve/" in path]
    assert fetched and not [p for p in fetched if p.endswith(".gguf")]  # manifests and the card only


def test_a_changed_file_is_named_exit_1_and_the_earlier_revision_still_verifies(published, hub, cli, tmp_path):
    from huggingface_hub import HfApi

    env = hub_environment(hub, tmp_path / "home")
    tampered = GGUF_HEADER + b"\x09" * 4096
    api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
    api.upload_file(path_or_fileobj=tampered, path_in_repo="model.Q8_0.gguf", repo_id=REPO_ID, commit_message="someone else")

    bad = cli("verify", f"hf:{REPO_ID}", env=env)
    assert bad.returncode == 1
    manifest_says = hashlib.sha256(GGUF_HEADER + b"\x01" * 4096).hexdigest()
    assert bad.stderr.splitlines() == [
        "hubship: error: 1 file(s) do not match their manifest: alice/checked-GGUF/model.Q8_0.gguf has sha256"
        f" {hashlib.sha256(tampered).hexdigest()[:12]}…, manifest says {manifest_says[:12]}… (gguf-q8_0.manifest.json)"
    ]
    assert "mismatch alice/checked-GGUF/model.Q8_0.gguf" in bad.stdout

    earlier = cli("verify", f"hf:{REPO_ID}@{published}", "--json", env=env)
    assert earlier.returncode == 0, earlier.stderr


def test_a_missing_repo_is_one_line_exit_2(hub, cli, tmp_path):
    result = cli("verify", "hf:alice/no-such-repo", env=hub_environment(hub, tmp_path / "home"))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "hubship: error: hf:alice/no-such-repo@main was not found on the Hub (or is private and HF_TOKEN cannot read it);"
        " check OWNER/NAME and the revision"
    ]


SINGLE_REPO = "alice/one"
OLLAMA_FILES = {"template": b"{{ .System }}{{ .Prompt }}", "system": b"Be brief.", "params": b'{\n  "stop": ["</s>"]\n}\n'}


def publish_single(container, checkpoint, extra: dict[str, bytes]) -> None:
    """hf:alice/one in the single layout: a stand-in gguf-q8_0 (with these Ollama files) in its folder gguf-q8_0/."""
    container.formats.override(providers.Object(FormatRegistry([StandInGgufFormat("Q8_0", payload=b"\x03" * 1024, extra=extra)])))
    request = PublishRequest(
        checkpoint=str(checkpoint), formats=("gguf-q8_0",), destinations=(f"hf:{SINGLE_REPO}",), options={"repo_layout": "single"}
    )
    container.execute_plan().execute(request)


def root_listing(hub) -> dict[str, str]:
    manifest = json.loads(hub.file_bytes(SINGLE_REPO, "manifest.json"))
    return {e["path"]: e["sha256"] for e in manifest["files"]}


def test_the_single_layouts_root_files_are_listed_and_verified(container, hub, tiny_model, cli, tmp_path):
    from huggingface_hub import HfApi

    publish_single(container, tiny_model[1], OLLAMA_FILES)
    files = set(hub.files(SINGLE_REPO))
    assert {"README.md", "manifest.json", "template", "system", "params", "gguf-q8_0/manifest.json", "gguf-q8_0/template"} <= files
    listed = root_listing(hub)
    assert set(listed) == {"README.md", "template", "system", "params"}  # every root file hubship wrote
    assert all(listed[p] == hashlib.sha256(hub.file_bytes(SINGLE_REPO, p)).hexdigest() for p in listed)

    env = hub_environment(hub, tmp_path / "home")
    good = cli("verify", f"hf:{SINGLE_REPO}", env=env)
    assert good.returncode == 0, good.stderr
    head = hub.state.resolve(hub.state.repos[SINGLE_REPO], "main")
    assert f"checked hf:{SINGLE_REPO}@{head[:12]}/manifest.json" in good.stdout.splitlines()

    api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
    api.upload_file(path_or_fileobj=b"{{ .Prompt }}", path_in_repo="template", repo_id=SINGLE_REPO, commit_message="someone else")
    bad = cli("verify", f"hf:{SINGLE_REPO}", env=env)
    assert bad.returncode == 1
    assert "alice/one/template has 13 bytes, manifest says 26" in bad.stderr


def test_a_root_copy_the_next_publish_no_longer_has_is_deleted(container, hub, tiny_model, cli, tmp_path):
    without_system = {k: v for k, v in OLLAMA_FILES.items() if k != "system"}
    publish_single(container, tiny_model[1], without_system)
    files = set(hub.files(SINGLE_REPO))
    assert "system" not in files and "gguf-q8_0/system" not in files, "a stale system prompt would mislead Ollama"
    assert hub.file_bytes(SINGLE_REPO, "template") == OLLAMA_FILES["template"]  # the tampered copy is repaired too
    assert set(root_listing(hub)) == {"README.md", "template", "params"}
    assert cli("verify", f"hf:{SINGLE_REPO}", env=hub_environment(hub, tmp_path / "home")).returncode == 0
