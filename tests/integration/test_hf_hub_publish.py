"""Publishing to the Hub, through the real huggingface_hub client, to the local Hub stand-in.

The tiny base is hosted on the server as acme/tiny-llama (its card says apache-2.0) and the
checkpoint names it by that id, as a real fine-tune would. Builds are shared by the module.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hubship.application.publish_request import PublishRequest
from hubship.domain.destination import Destination
from hubship.domain.manifest import Manifest
from hubship.domain.publication import Publication
from tests.fakes.progress import FakeProgress
from tests.support import hub_fixtures
from tests.support.hub_fixtures import BASE_REPO, changed_paths, check_against_manifest, download, host_base, lfs_objects, sha256_of

hub, hub_env = hub_fixtures.hub, hub_fixtures.hub_env  # the module's fixtures

pytestmark = pytest.mark.slow
BOTH = ("lora", "merged-16bit")


container = hub_fixtures.hub_container  # a module-scoped container publishing to the stand-in Hub


@pytest.fixture(scope="module")
def checkpoint(hub, hub_env, tiny_model, tmp_path_factory) -> Path:
    made = host_base(hub, *tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny-sft")
    readme = (made / "README.md").read_text()
    (made / "README.md").write_text(readme.replace("library_name: peft", "library_name: peft\ndatasets:\n- acme/chats", 1))
    return made


def publish(container, checkpoint: Path, to: str, formats=BOTH, **options):
    request = PublishRequest(checkpoint=str(checkpoint), formats=tuple(formats), destinations=(to,), options=options)
    return container.execute_plan().execute(request)


@pytest.fixture(scope="module")
def first(container, checkpoint):
    return publish(container, checkpoint, "hf:alice/tiny")


def sha256_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _card(hub, repo_id: str, path: str = "README.md"):
    from huggingface_hub import ModelCard

    return ModelCard(hub.file_bytes(repo_id, path).decode())


def test_each_repo_gets_one_commit_and_downloads_equal_the_manifest(first, hub, tmp_path):
    assert sorted(first.published) == ["alice/tiny", "alice/tiny-lora"]
    for repo_id in ("alice/tiny", "alice/tiny-lora"):
        assert len(hub.commits(repo_id)) == 1
        folder = download(hub, repo_id, tmp_path / repo_id.replace("/", "_"))
        manifest = check_against_manifest(folder)
        got = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts}
        assert got == {e["path"] for e in manifest["files"]} | {"manifest.json", ".gitattributes"}


def test_cards_name_the_real_base_relation_license_datasets_and_siblings(first, hub):
    merged, lora = _card(hub, "alice/tiny"), _card(hub, "alice/tiny-lora")
    assert merged.data.base_model == lora.data.base_model == BASE_REPO
    assert (merged.data.base_model_relation, lora.data.base_model_relation) == ("merge", "adapter")
    assert merged.data.license == lora.data.license == "apache-2.0"
    assert merged.data.datasets == ["acme/chats"]
    assert {"sft", "merged-16bit", "hubship"} <= set(merged.data.tags) and {"sft", "lora", "hubship"} <= set(lora.data.tags)
    assert (merged.data.library_name, lora.data.library_name, merged.data.pipeline_tag) == ("transformers", "peft", "text-generation")
    assert "(https://huggingface.co/alice/tiny-lora)" in merged.text and "(https://huggingface.co/alice/tiny)" in lora.text
    assert 'from_pretrained("alice/tiny-lora")' in lora.text
    manifest = json.loads(hub.file_bytes("alice/tiny", "manifest.json"))
    if manifest["verification"].get("metrics"):
        assert "Measured quality" in merged.text


def test_downloaded_models_load_and_match_the_local_artifacts(first, hub, tiny_model, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged_dir = download(hub, "alice/tiny", tmp_path / "merged")
    lora_dir = download(hub, "alice/tiny-lora", tmp_path / "lora")
    local = next(a.path for a in first.artifacts if a.format == "merged-16bit")
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    with torch.no_grad():
        remote = AutoModelForCausalLM.from_pretrained(merged_dir).eval()(ids).logits
        here = AutoModelForCausalLM.from_pretrained(local).eval()(ids).logits
        base = AutoModelForCausalLM.from_pretrained(tiny_model[0])
        adapted = PeftModel.from_pretrained(base, lora_dir).eval()(ids).logits
    assert torch.equal(remote, here)
    assert torch.allclose(adapted, remote, atol=1e-4)


def test_republishing_unchanged_makes_no_commit_and_sends_nothing(first, container, checkpoint, hub):
    uploads, requests = len(hub.uploads), len(hub.requests)
    again = publish(container, checkpoint, "hf:alice/tiny")
    assert not again.published and sorted(again.skipped) == ["alice/tiny", "alice/tiny-lora"]
    assert [len(hub.commits(r)) for r in ("alice/tiny", "alice/tiny-lora")] == [1, 1]
    assert len(hub.uploads) == uploads
    assert not [r for r in hub.requests[requests:] if r[0] in ("PUT", "POST") and "/commit/" in r[1]]


def test_the_adapter_itself_finds_nothing_to_send(first, container, hub):
    """Past the plan's up-to-date check: publish() compares every remote hash and commits nothing."""
    pubs = []
    for art in (a for a in first.artifacts if a.format in BOTH):
        repo_id = "alice/tiny" if art.format == "merged-16bit" else "alice/tiny-lora"
        manifest = Manifest.from_json(hub.file_bytes(repo_id, "manifest.json").decode())
        card = hub.file_bytes(repo_id, "README.md").decode()
        pubs.append(Publication(name=manifest.name, format=art.format, source_dir=art.path, card=card, manifest=manifest, relation=""))
    progress = FakeProgress()
    dest = Destination("hf", "alice/tiny", options={"formats": BOTH})
    located = container.hf_registry().publish(dest, pubs, progress)
    assert sorted((d.location, d.status) for d in located) == [("alice/tiny", "up to date"), ("alice/tiny-lora", "up to date")]
    assert [len(hub.commits(r)) for r in ("alice/tiny", "alice/tiny-lora")] == [1, 1]
    assert sum("no commit made" in m for m in progress.messages) == 2


def test_changing_one_file_makes_one_commit_sending_only_that_file(container, checkpoint, hub, tmp_path):
    from safetensors.torch import load_file, save_file

    ckpt = tmp_path / "changing"
    shutil.copytree(checkpoint, ckpt)
    publish(container, ckpt, "hf:alice/change", ("lora",))
    assert len(hub.commits("alice/change")) == 1  # nothing merged: the adapter takes NAME itself
    weights = ckpt / "adapter_model.safetensors"
    tensors = load_file(weights)
    first_key = sorted(tensors)[0]
    tensors[first_key] = tensors[first_key] * 2
    save_file(tensors, weights, metadata={"format": "pt"})
    before = len(hub.uploads)
    publish(container, ckpt, "hf:alice/change", ("lora",))
    commits = hub.commits("alice/change")
    assert len(commits) == 2
    assert changed_paths(hub, "alice/change", commits[-1]) == {"adapter_model.safetensors", "README.md", "manifest.json"}
    assert [u["oid"] for u in hub.uploads[before:]] == [sha256_of(weights)]


def test_a_dropped_upload_ends_in_one_complete_commit_without_duplicates(container, checkpoint, hub, tmp_path):
    hub.add_fault("drop", method="PUT", path="^/_lfs/alice/dropped/", min_size=1_000_000, after_bytes=300_000)
    try:
        publish(container, checkpoint, "hf:alice/dropped", ("merged-16bit",))
    finally:
        hub.clear_faults()
    assert hub.faults.dropped >= 1
    assert len(hub.commits("alice/dropped")) == 1
    done = hub.completed_uploads("alice/dropped")
    assert len(done) == len(set(done)) == len(lfs_objects(hub, "alice/dropped"))  # each LFS object stored once
    check_against_manifest(download(hub, "alice/dropped", tmp_path / "dropped"))


def test_private_branch_tag_and_pull_request(container, checkpoint, hub, tmp_path):
    from huggingface_hub.errors import RepositoryNotFoundError

    publish(container, checkpoint, "hf:acme/secret", ("lora",), private=True, revision="dev", tag="v1")
    repo = hub.state.repos["acme/secret"]
    assert repo.private
    assert len(hub.commits("acme/secret", "dev")) == 1 and hub.commits("acme/secret", "main") == []
    assert repo.tags["v1"] == repo.branches["dev"]
    with pytest.raises(RepositoryNotFoundError):
        download(hub, "acme/secret", tmp_path / "anonymous", revision="dev", token=False)

    result = publish(container, checkpoint, "hf:alice/reviewed", ("lora",), create_pr=True)
    assert result.published[0].endswith("/alice/reviewed/discussions/1")
    assert hub.commits("alice/reviewed") == [] and len(hub.commits("alice/reviewed", "refs/pr/1")) == 1


def test_single_layout_is_one_repo_with_a_folder_per_format(container, checkpoint, hub):
    result = publish(container, checkpoint, "hf:alice/onerepo", repo_layout="single")
    assert sorted(result.published) == ["alice/onerepo/lora", "alice/onerepo/merged-16bit"]  # one repo, a folder each
    assert len(hub.commits("alice/onerepo")) == 1
    files = hub.files("alice/onerepo")
    assert {"lora/manifest.json", "merged-16bit/manifest.json", "lora/README.md", "merged-16bit/README.md", "README.md"} <= set(files)
    assert "lora/adapter_model.safetensors" in files and "merged-16bit/config.json" in files
    assert "(https://huggingface.co/alice/onerepo/tree/main/lora)" in _card(hub, "alice/onerepo", "merged-16bit/README.md").text
    root = Manifest.from_json(hub.file_bytes("alice/onerepo", "manifest.json").decode())  # the index card is listed too
    assert [(f.path, f.sha256) for f in root.files] == [("README.md", sha256_of_bytes(hub.file_bytes("alice/onerepo", "README.md")))]
    again = publish(container, checkpoint, "hf:alice/onerepo", repo_layout="single")
    assert again.published == () and len(hub.commits("alice/onerepo")) == 1  # the root manifest is read back as up to date


def test_a_readme_someone_else_wrote_is_kept_unless_overwrite_card(container, checkpoint, hub, hub_env):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub.url, token=hub_env["HF_TOKEN"])
    api.create_repo("alice/theirs")
    theirs = b"---\nlicense: mit\n---\n# My own notes\n"
    api.upload_file(path_or_fileobj=theirs, path_in_repo="README.md", repo_id="alice/theirs")
    publish(container, checkpoint, "hf:alice/theirs", ("lora",))
    files = hub.files("alice/theirs")
    assert hub.file_bytes("alice/theirs", "README.md") == theirs
    assert "HUBSHIP_CARD.md" in files
    manifest = json.loads(hub.file_bytes("alice/theirs", "manifest.json"))
    assert "HUBSHIP_CARD.md" in {e["path"] for e in manifest["files"]}
    assert any("HUBSHIP_CARD.md" in m for m in container.progress().messages)

    publish(container, checkpoint, "hf:alice/theirs", ("lora",), overwrite_card=True, tag="v2")  # same key: up to date
    assert hub.file_bytes("alice/theirs", "README.md") == theirs
    other = checkpoint.parent / "other-run"
    if not other.exists():
        shutil.copytree(checkpoint, other)
        (other / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    publish(container, other, "hf:alice/theirs", ("lora",), overwrite_card=True)
    assert b"hubship" in hub.file_bytes("alice/theirs", "README.md")
