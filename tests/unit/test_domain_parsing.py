"""Destinations, format lists, manifests and quality gates."""

from __future__ import annotations

import pytest

from hubship.domain.destination import Destination, parse_destination, parse_destinations
from hubship.domain.errors import UserInputError
from hubship.domain.formats import parse_format_list
from hubship.domain.manifest import FileEntry, Manifest, compare_files
from hubship.domain.quality import breaches, parse_threshold
from hubship.domain.training_method import detect_training_method


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dir:./published", Destination("dir", "./published")),
        ("hf:me/my-model", Destination("hf", "me/my-model")),
        ("ollama:my-model:q4", Destination("ollama", "my-model:q4")),
        ("DIR:/tmp/x", Destination("dir", "/tmp/x")),
    ],
)
def test_destinations_parse(text, expected):
    assert parse_destination(text) == expected


@pytest.mark.parametrize("text", ["published", "s3:bucket", "dir:", "hf:noslash", "hf:a/b/c", "hf:me/bad name", "ollama:Bad Name"])
def test_malformed_destinations_name_the_accepted_forms(text):
    with pytest.raises(UserInputError) as info:
        parse_destination(text)
    assert "\n" not in info.value.message


def test_default_destination_and_duplicates():
    assert parse_destinations([]) == (Destination("dir", "./published"),)
    assert len(parse_destinations(["dir:a", "dir:a"])) == 1


def test_format_lists_split_dedupe_and_reject_unknown():
    known = ("lora", "merged-16bit")
    assert parse_format_list(["lora,merged-16bit", "LORA"], known) == ("lora", "merged-16bit")
    with pytest.raises(UserInputError, match="valid formats: lora, merged-16bit"):
        parse_format_list(["gguf-q9"], known)
    with pytest.raises(UserInputError, match="no format given"):
        parse_format_list([" , "], known)


def test_manifest_round_trips_byte_identically():
    manifest = Manifest(
        name="n",
        format="lora",
        key="k" * 64,
        params={"a": 1},
        files=(FileEntry("b.bin", 2, "0" * 64), FileEntry("a.json", 1, "1" * 64)),
        inputs={"base": {"ref": "x"}},
        tools={"hubship": "0.1.0"},
    )
    text = manifest.to_json()
    assert Manifest.from_json(text).to_json() == text
    assert text.index('"a.json"') < text.index('"b.bin"')


def test_compare_files_reports_each_difference():
    expected = (FileEntry("a", 1, "x" * 64), FileEntry("b", 1, "y" * 64), FileEntry("c", 1, "z" * 64))
    actual = {"a": FileEntry("a", 1, "x" * 64), "b": FileEntry("b", 1, "w" * 64)}
    problems = compare_files(expected, actual)
    assert len(problems) == 2
    assert problems[0].startswith("b has sha256") and problems[1] == "c is missing"


def test_quality_breaches():
    assert breaches({"kl": 0.5, "top1": 0.9}, {"kl": {"max": 0.1}, "top1": {"min": 0.95}}) == ["kl=0.5 > 0.1", "top1=0.9 < 0.95"]
    assert breaches({"kl": 0.01}, {"kl": {"max": 0.1}, "unmeasured": {"max": 0}}) == []


def test_training_method_detection():
    assert detect_training_method(["lora", "trl", "kto"]) == "kto"
    assert detect_training_method(["This model was trained with SFT."]) == "sft"
    assert detect_training_method(["transformers"]) == "unknown"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model-16bit.mean_kl=1e-3", ("merged-16bit", "mean_kl", 1e-3)),
        ("Model-4bit.top1_agreement=0.9", ("merged-4bit", "top1_agreement", 0.9)),
        ("gguf-q4_k_m.mean_kl=0.1", ("gguf-q4_k_m", "mean_kl", 0.1)),
    ],
)
def test_a_threshold_reads_a_documented_format_alias_as_its_format(text, expected):
    assert parse_threshold(text) == expected


def test_the_format_list_reads_the_aliases_too():
    assert parse_format_list(["model-16bit,model-4bit"], ("merged-16bit", "merged-4bit")) == ("merged-16bit", "merged-4bit")
