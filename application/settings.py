"""Effective settings: each option's value, and where it came from (a flag, a config file, the environment, or the default).

Pure merge logic; the CLI supplies the names of the options it declares, what the user typed and
the config file's table. Precedence: flag > config file > environment variable > default. A config
key is an option's long flag name without dashes, spelled with `-` or `_` (`max-shard-size` or `max_shard_size`), so
every option a command declares is configurable without a list to keep in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.suggest import closest

FLAG = "flag"
ENV = "env"
DEFAULT = "default"


@attrs.frozen(kw_only=True)
class Setting:
    """One option's effective value; `origin` is "flag", "env" (an environment variable), "default", or the config file's path."""

    name: str
    value: Any
    origin: str


def config_key(text: str) -> str:
    """The canonical spelling of a config key or flag name: lower case, `_` for `-`, no leading dashes."""
    return text.strip().lstrip("-").lower().replace("-", "_")


def known_keys(options: Mapping[str, Iterable[str]], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Accepted config key -> option name, from each option's flag names (`{"fmt": ["--format", "-f"]}`).

    Only long flags count (`-f` is not a key); `aliases` adds spellings for a flag, e.g. `formats` for `format`.
    """
    keys: dict[str, str] = {}
    for option, flags in options.items():
        for flag in flags:
            if flag.startswith("--"):
                keys[config_key(flag)] = option
    for alias, flag in (aliases or {}).items():
        if config_key(flag) in keys:
            keys[config_key(alias)] = keys[config_key(flag)]
    return keys


def normalise_config(table: Mapping[str, Any], keys: Mapping[str, str], source: str) -> dict[str, Any]:
    """The config file's table as {option name: value}; an unknown or repeated key is a UserInputError naming it."""
    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in table.items():
        option = keys.get(config_key(key))
        if option is None:
            near = closest(config_key(key), keys)
            known = ", ".join(sorted(k.replace("_", "-") for k in keys))
            hint = f"did you mean {near.replace('_', '-')!r}?" if near else f"known keys: {known}"
            raise UserInputError(f"unknown key {key!r} in {source}; {hint}")
        if option in values:
            raise UserInputError(f"{source} sets {key!r} and {spelled[option]!r}, which are the same setting; keep one")
        values[option], spelled[option] = value, key
    return values


def resolve_settings(
    *,
    defaults: Mapping[str, Any],
    flags: Mapping[str, Any],
    config: Mapping[str, Any],
    config_source: str | None,
    env: Mapping[str, Any] | None = None,
) -> dict[str, Setting]:
    """Each option in `defaults`: the flag's value if typed, else the config file's, else its environment
    variable's (HUBSHIP_WORKSPACE), else the default.

    Config entries for options this command does not declare are ignored (they serve another command).
    """
    settings: dict[str, Setting] = {}
    env = env or {}
    for name, default in defaults.items():
        if name in flags:
            settings[name] = Setting(name=name, value=flags[name], origin=FLAG)
        elif name in config and config_source is not None:
            settings[name] = Setting(name=name, value=config[name], origin=config_source)
        elif name in env:
            settings[name] = Setting(name=name, value=env[name], origin=ENV)
        else:
            settings[name] = Setting(name=name, value=default, origin=DEFAULT)
    return settings
