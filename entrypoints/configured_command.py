"""A typer command whose options take their defaults from `hubship.toml`; flags typed by the user win.

Generic over options: the config keys are the long flag names of every option the configured
commands declare (plus `ALIASES`), so an option added to `plan` or `publish` is configurable with
no further edit. Values go through the option's own type conversion and callback, as if typed.
The effective settings, with their origins, are left in `ctx.meta[SETTINGS]` for the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubship.application.settings import Setting, known_keys, normalise_config, resolve_settings
from hubship.domain.errors import UserInputError
from hubship.entrypoints.config_file import find_config, read_config
from hubship.entrypoints.help_command import HelpCommand

SETTINGS = "hubship.settings"
CONFIG_PARAM = "config"
ALIASES = {"formats": "--format", "destinations": "--to", "destination": "--to", "thresholds": "--threshold"}
TYPED = "COMMANDLINE"  # ParameterSource names: a value typed on the command line, or read from an environment variable
FROM_ENV = "ENVIRONMENT"


def _options(command: Any) -> dict[str, Any]:
    """{config key: click option}: the key is the first long flag without dashes (`max-shard-size`)."""
    options = {}
    for param in command.params:
        flags = [f for f in param.opts if f.startswith("--")]
        if param.param_type_name == "option" and param.name != CONFIG_PARAM and flags:
            options[flags[0][2:]] = param
    return options


def _configured(ctx: Any, command: Any) -> list[Any]:
    group = ctx.parent.command if ctx.parent is not None else None
    siblings = list(getattr(group, "commands", {}).values()) or [command]
    return [c for c in siblings if isinstance(c, ConfiguredCommand)]


def flatten_table(table: dict[str, Any], prefix: str = "") -> list[str]:
    """{"merged-16bit": {"mean_kl": 1e-6}} -> ["merged-16bit.mean_kl=1e-06"]: a table as repeated KEY=VALUE flags."""
    items: list[str] = []
    for key, value in table.items():
        if isinstance(value, dict):
            items += flatten_table(value, f"{prefix}{key}.")
        else:
            items.append(f"{prefix}{key}={str(value).lower() if isinstance(value, bool) else value}")
    return items


def _as_option_value(param: Any, value: Any, key: str, source: str) -> Any:
    """A TOML value as the option's parser expects it: a list for a repeatable option (a table becomes KEY=VALUE items)."""
    repeatable = param.multiple or param.nargs != 1
    if isinstance(value, dict):
        if not repeatable:
            raise UserInputError(f"{key!r} in {source} is a table; give it one value, as after --{key}")
        return flatten_table(value)
    if repeatable and not isinstance(value, list | tuple):
        return [value]
    return value


class ConfiguredCommand(HelpCommand):
    """`app.command(cls=ConfiguredCommand)`: the command reads hubship.toml (see module docstring)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        ctx.meta[SETTINGS] = {} if ctx.resilient_parsing else self._apply_config(ctx)  # resilient: shell completion
        return rest

    def _apply_config(self, ctx: Any) -> dict[str, Setting]:
        checkpoint = ctx.params.get("checkpoint")
        path = find_config(ctx.params.get(CONFIG_PARAM), Path(checkpoint) if checkpoint else None, Path.cwd())
        source = str(path) if path else None
        keys = known_keys({key: p.opts for c in _configured(ctx, self) for key, p in _options(c).items()}, ALIASES)
        config = normalise_config(read_config(path), keys, str(path)) if path else {}
        options = _options(self)
        sources = {k: getattr(ctx.get_parameter_source(p.name), "name", None) for k, p in options.items()}
        settings = resolve_settings(
            defaults={k: ctx.params.get(p.name) for k, p in options.items()},
            flags={k: ctx.params[p.name] for k, p in options.items() if sources[k] == TYPED},
            config={k: v for k, v in config.items() if k in options},
            config_source=source,
            env={k: ctx.params[p.name] for k, p in options.items() if sources[k] == FROM_ENV},
        )
        for key, setting in settings.items():
            if setting.origin == source:
                param = options[key]
                try:
                    ctx.params[param.name] = param.process_value(ctx, _as_option_value(param, setting.value, key, str(source)))
                except Exception as exc:  # click's (or typer's vendored click's) BadParameter
                    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                    raise UserInputError(f"{key} = {setting.value!r} in {source} is not valid: {message}") from None
        return settings
