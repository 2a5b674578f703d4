"""The publish name: which one wins, what an explicit one may not be, and how a derived one is cleaned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubship.application.publish_request import default_name
from hubship.domain.destination import parse_destination, parse_destinations
from hubship.domain.errors import UserInputError
from hubship.domain.manifest import Manifest
from hubship.domain.names import FROM_FLAG, FROM_FOLDER, PublishName, chosen_name, clean_name, folder_name, name_problem

ALL = ("dir", "hf", "ollama")


def dests(*texts: str):
    return parse_destinations(list(texts))


def test_name_flag_wins_then_the_single_hub_destination_then_the_folder():
    assert chosen_name("bot", dests("hf:me/smol-support", "dir:out")) == PublishName("bot", FROM_FLAG)
    assert chosen_name(None, dests("hf:me/smol-support", "dir:out")) == PublishName("smol-support", "hf:me/smol-support")
    assert chosen_name(None, dests("hf:me/a", "hf:me/b")) is None  # two Hub names: neither wins
    assert chosen_name(None, dests("dir:out", "ollama:bot")) is None
    assert folder_name("ckpt-sft") == PublishName("ckpt-sft", FROM_FOLDER)


@pytest.mark.parametrize(
    ("name", "schemes", "problem"),
    [
        ("../../escaped", ("dir",), "path separator"),
        ("a/b", ("dir",), "path separator"),
        ("a\\b", ("dir",), "path separator"),
        ("..", ("dir",), "'..'"),
        ("a..b", ("dir",), "'..'"),
        (".hidden", ("dir",), "starting with a letter or digit"),
        ("-rf", ("dir",), "starting with a letter or digit"),
        ("my model", ("dir",), "letters, digits"),
        ("", ("dir",), "letters, digits"),
        ("x" * 97, ("dir",), "longer than 96"),
        ("model.", ("dir",), "ends with '.'"),
        ("CON", ("dir",), "device name"),
        ("nul.gguf", ("dir",), "device name"),
        ("a--b", ("hf",), "no '--'"),
        ("bot-", ("hf",), "at the end"),
        ("bot.git", ("hf",), "at the end"),
        ("x" * 81, ("ollama",), "at most 80"),
    ],
)
def test_an_explicit_name_breaking_a_rule_is_refused_in_one_line(name, schemes, problem):
    found = name_problem(name, schemes)
    assert found is not None and problem in found
    with pytest.raises(UserInputError) as refused:
        chosen_name(name, [parse_destination(f"{s}:{'me/x' if s == 'hf' else 'x'}") for s in schemes])
    assert "\n" not in refused.value.message and f"invalid --name {name!r}" in refused.value.message


@pytest.mark.parametrize(("name", "schemes"), [("a--b", ("dir", "ollama")), ("bot-", ("dir",)), ("x" * 96, ("dir", "hf"))])
def test_rules_of_a_destination_apply_only_where_it_is_used(name, schemes):
    assert name_problem(name, schemes) is None


def test_a_hub_name_too_long_for_ollama_asks_for_a_name():
    with pytest.raises(UserInputError, match="pass --name"):
        chosen_name(None, dests(f"hf:me/{'x' * 90}", "ollama:bot"))


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("my run (v2)", "my-run-v2"),
        ("../../escaped", "escaped"),
        ("--a--b..c.git.", "a-b.c"),
        ("CON", "CON-model"),
        ("日本語", "model"),
        ("x" * 120, "x" * 80),
    ],
)
def test_a_derived_name_is_cleaned(text, cleaned):
    assert clean_name(text) == cleaned


@given(st.text(max_size=200))
def test_a_cleaned_name_keeps_every_destinations_rules(text):
    assert name_problem(clean_name(text), ALL) is None


def test_the_folder_name_is_cleaned(tmp_path):
    folder = tmp_path / "My Run: sft (final)" / "checkpoint-500"
    assert default_name(str(folder)) == "My-Run-sft-final"


def test_a_manifest_publishes_its_key_under_its_name_only():
    manifest = Manifest(name="smol-support", format="lora", key="k" * 64, params={}, files=(), inputs={}, tools={})
    assert manifest.publishes("smol-support", "k" * 64)
    assert not manifest.publishes("support-bot", "k" * 64)  # renamed: the card's title must change
    assert not manifest.publishes("smol-support", "j" * 64)
