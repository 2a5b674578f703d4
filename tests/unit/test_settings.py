"""Effective settings: flag > config file > default, with origins; config keys derived from the options' flags."""

from __future__ import annotations

import pytest

from hubship.application.settings import DEFAULT, FLAG, known_keys, normalise_config, resolve_settings
from hubship.domain.errors import UserInputError

OPTIONS = {"format": ["--format", "-f"], "max-shard-size": ["--max-shard-size"], "json": ["--json"], "to": ["--to", "-t"]}
KEYS = known_keys(OPTIONS, {"formats": "--format", "destinations": "--to"})


def test_keys_come_from_long_flags_in_either_spelling_plus_aliases():
    assert KEYS == {
        "format": "format",
        "max_shard_size": "max-shard-size",
        "json": "json",
        "to": "to",
        "formats": "format",
        "destinations": "to",
    }
    assert normalise_config({"max-shard-size": "1GB", "Formats": ["lora"]}, KEYS, "x.toml") == {
        "max-shard-size": "1GB",
        "format": ["lora"],
    }
    assert normalise_config({"max_shard_size": "1GB"}, KEYS, "x.toml") == {"max-shard-size": "1GB"}


def test_an_option_added_later_is_configurable_without_edits():
    keys = known_keys({**OPTIONS, "gguf-split-max-size": ["--gguf-split-max-size"]})
    assert normalise_config({"gguf_split_max_size": "50GB"}, keys, "x.toml") == {"gguf-split-max-size": "50GB"}


def test_unknown_key_is_an_error_naming_it_and_the_closest_key():
    with pytest.raises(UserInputError) as err:
        normalise_config({"max-shard-sise": "1GB"}, KEYS, "/run/hubship.toml")
    assert err.value.message == "unknown key 'max-shard-sise' in /run/hubship.toml; did you mean 'max-shard-size'?"
    with pytest.raises(UserInputError, match=r"unknown key 'colour' in x\.toml; known keys: destinations, format, formats, json"):
        normalise_config({"colour": "red"}, KEYS, "x.toml")


def test_two_spellings_of_one_key_are_refused():
    with pytest.raises(UserInputError, match="sets 'formats' and 'format', which are the same setting"):
        normalise_config({"format": ["a"], "formats": ["b"]}, KEYS, "x.toml")


def test_flag_beats_config_beats_default_and_each_origin_is_named():
    settings = resolve_settings(
        defaults={"format": [], "max-shard-size": None, "json": False, "to": None},
        flags={"to": ["dir:/flag"]},
        config={"to": ["dir:/config"], "format": ["lora"], "backend": "hf"},
        config_source="/run/hubship.toml",
    )
    assert {k: (s.value, s.origin) for k, s in settings.items()} == {
        "format": (["lora"], "/run/hubship.toml"),
        "max-shard-size": (None, DEFAULT),
        "json": (False, DEFAULT),
        "to": (["dir:/flag"], FLAG),
    }
