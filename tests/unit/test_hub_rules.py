"""The pure rules behind publishing to the Hub: repo layout, options, what changes, secrets."""

from __future__ import annotations

import pickle

import attrs
import pytest

from hubship.domain.errors import UserInputError
from hubship.domain.hub_layout import HubOptions, HubTarget, card_path, hub_options, hub_target, hub_url, manifest_path, shares_folder
from hubship.domain.hub_root import is_root_manifest, kept_root_copies, root_manifest
from hubship.domain.hub_sync import RemoteFile, WantedFile, changes, git_blob_oid, mismatches
from hubship.domain.manifest import FileEntry, Manifest
from hubship.domain.secrets import count_hub_tokens, is_pickle, looks_like_text

ALL = ("lora", "merged-16bit", "merged-4bit", "gguf-q4_k_m", "gguf-q8_0", "fp8-dynamic", "w4a16")


def test_split_layout_names_one_repo_per_kind():
    opts = HubOptions(formats=ALL)
    repos = {fmt: hub_target("me/model", fmt, opts).location for fmt in ALL}
    assert repos == {
        "lora": "me/model-lora",
        "merged-16bit": "me/model",
        "merged-4bit": "me/model-bnb-4bit",
        "gguf-q4_k_m": "me/model-GGUF",
        "gguf-q8_0": "me/model-GGUF",
        "fp8-dynamic": "me/model-FP8",
        "w4a16": "me/model-W4A16",
    }


def test_each_mlx_format_has_a_repo_of_its_own():
    opts = HubOptions(formats=("merged-16bit", "mlx-4bit", "mlx-8bit", "mlx-16bit"))
    repos = {fmt: hub_target("me/model", fmt, opts).location for fmt in opts.formats}
    assert repos == {
        "merged-16bit": "me/model",
        "mlx-4bit": "me/model-MLX-4bit",
        "mlx-8bit": "me/model-MLX-8bit",
        "mlx-16bit": "me/model-MLX-16bit",
    }


def test_the_adapter_takes_the_main_repo_when_nothing_is_merged():
    assert hub_target("me/model", "lora", HubOptions(formats=("lora", "gguf-q4_k_m"))).location == "me/model"


def test_single_layout_puts_each_format_in_a_folder_of_one_repo():
    opts = HubOptions(formats=ALL, layout="single")
    assert {hub_target("me/model", f, opts) for f in ALL} == {HubTarget("me/model", f) for f in ALL}
    assert hub_url("me/model/lora") == "https://huggingface.co/me/model/tree/main/lora"
    assert hub_url("me/model-GGUF") == "https://huggingface.co/me/model-GGUF"


def test_formats_sharing_a_repo_get_one_manifest_each():
    opts = HubOptions(formats=ALL)
    gguf = hub_target("me/model", "gguf-q8_0", opts)
    sharing = shares_folder(gguf, "me/model", opts)
    assert sharing == ("gguf-q4_k_m", "gguf-q8_0")
    assert manifest_path(gguf, "gguf-q8_0", sharing) == "gguf-q8_0.manifest.json"
    lora = hub_target("me/model", "lora", opts)
    assert manifest_path(lora, "lora", shares_folder(lora, "me/model", opts)) == "manifest.json"


def test_a_readme_someone_else_wrote_is_kept_unless_asked():
    target = HubTarget("me/model", "lora")
    assert card_path(target, user_readme=True, overwrite_card=False) == "lora/HUBSHIP_CARD.md"
    assert card_path(target, user_readme=True, overwrite_card=True) == "lora/README.md"
    assert card_path(target, user_readme=False, overwrite_card=False) == "lora/README.md"


@pytest.mark.parametrize(
    ("options", "fix"),
    [({"repo_layout": "flat"}, "--repo-layout"), ({"revision": "a..b"}, "--revision"), ({"tag": "v 1"}, "--tag")],
)
def test_bad_hub_options_are_one_line_naming_the_flag(options, fix):
    with pytest.raises(UserInputError) as info:
        hub_options(options)
    assert fix in info.value.message and "\n" not in info.value.message


def test_a_repo_name_too_long_for_the_hub_is_refused():
    with pytest.raises(UserInputError, match="shorter"):
        hub_target("me/" + "m" * 95, "lora", HubOptions(formats=("lora", "merged-16bit")))


def _remote(path: str, data: bytes, lfs: bool) -> RemoteFile:
    import hashlib

    return RemoteFile(path=path, size=len(data), git_oid=git_blob_oid(data), lfs_sha256=hashlib.sha256(data).hexdigest() if lfs else None)


def _wanted(path: str, data: bytes) -> WantedFile:
    import hashlib

    return WantedFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest(), git_oid=git_blob_oid(data))


def test_only_files_that_differ_are_sent():
    remote = {"a.safetensors": _remote("a.safetensors", b"weights", True), "config.json": _remote("config.json", b"{}", False)}
    todo = changes([_wanted("a.safetensors", b"weights"), _wanted("config.json", b'{"x": 1}'), _wanted("new.txt", b"n")], remote)
    assert [w.path for w in todo.send] == ["config.json", "new.txt"]
    assert not changes([_wanted("a.safetensors", b"weights")], remote).send


def test_only_files_an_earlier_publish_left_untouched_are_deleted():
    old_shard, readme, theirs = _wanted("model-00002.safetensors", b"s2"), _wanted("README.md", b"old card"), b"user file"
    remote = {
        "model-00002.safetensors": _remote("model-00002.safetensors", b"s2", True),
        "README.md": _remote("README.md", b"old card", False),
        "notes.txt": _remote("notes.txt", theirs, False),
    }
    todo = changes([], remote, stale=[old_shard, readme])
    assert todo.delete == ("model-00002.safetensors",)
    edited = {"model-00002.safetensors": _remote("model-00002.safetensors", b"edited", True)}
    assert changes([], edited, stale=[old_shard]).delete == ()


def test_mismatches_name_each_wrong_file():
    remote = {"a": _remote("a", b"aa", True), "b": _remote("b", b"bb", False)}
    found = mismatches([_wanted("a", b"ab"), _wanted("b", b"bbb"), _wanted("c", b"c")], remote)
    differs = "a differs from the manifest's sha256 " + _wanted("a", b"ab").sha256[:12] + "…"
    assert found == [differs, "b has 2 bytes, the manifest says 3", "c is missing"]


def test_hub_tokens_are_found_in_text_and_nothing_else_is():
    token = b"hf_" + b"Ab1" * 12
    assert count_hub_tokens(b'{"token": "' + token + b'"}') == 1
    assert count_hub_tokens(b"hf_short and the hf_ prefix alone") == 0
    assert looks_like_text("plain text, ünïcode".encode()) and not looks_like_text(b"\x00\x01binary")


def test_pickles_are_recognised_by_name_and_by_content():
    assert is_pickle("training_args.bin", b"")
    assert is_pickle("sub/optimizer.pt", b"PK\x03\x04")
    assert is_pickle("pytorch_model.bin", pickle.dumps({"a": 1}, protocol=4)[:16])
    assert is_pickle("pytorch_model.bin", b"PK\x03\x04rest")
    assert not is_pickle("model.safetensors", b"\x08\x00\x00\x00")
    assert not is_pickle("model-q4.gguf", b"GGUF")


ROOT_FILES = (FileEntry("README.md", 10, "a" * 64), FileEntry("template", 20, "b" * 64), FileEntry("params", 30, "c" * 64))


def test_the_root_manifest_lists_the_single_layouts_root_files_in_one_byte_identical_form():
    made = root_manifest("chat", ROOT_FILES, {"gguf-q8_0": "k1"})
    again = root_manifest("chat", reversed(ROOT_FILES), {"gguf-q8_0": "k1"})
    assert made.to_json() == again.to_json() and is_root_manifest(Manifest.from_json(made.to_json()))
    assert [f.path for f in made.files] == ["README.md", "params", "template"] and made.built_from == {"gguf-q8_0": "k1"}
    assert root_manifest("chat", ROOT_FILES[:2], {}).key != made.key


def test_a_publish_without_gguf_keeps_the_root_ollama_files_and_one_with_gguf_replaces_them():
    previous = root_manifest("chat", ROOT_FILES, {"gguf-q8_0": "k1", "lora": "k2"})
    kept, origin = kept_root_copies(previous, publishes_gguf=False)
    assert [e.path for e in kept] == ["params", "template"] and origin == {"gguf-q8_0": "k1"}
    assert kept_root_copies(previous, publishes_gguf=True) == ((), {})
    split_main = attrs.evolve(previous, format="merged-16bit")  # the split layout's main repo: not a root manifest
    assert kept_root_copies(split_main, publishes_gguf=False) == ((), {}) and kept_root_copies(None, False) == ((), {})
