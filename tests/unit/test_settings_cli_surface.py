"""The CLI surface the wrappers and the config layer rely on: every command has --json and --quiet and
documents two examples and the exit codes; plan and publish read hubship.toml."""

from __future__ import annotations

import typer

from hubship.entrypoints.cli import EXIT_CODES, app
from hubship.entrypoints.configured_command import ConfiguredCommand


def _commands() -> dict:
    return typer.main.get_command(app).commands


def test_every_command_has_json_and_quiet_and_its_help_lists_the_exit_codes():
    assert EXIT_CODES == "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed."
    for name, command in _commands().items():
        flags = {flag for param in command.params for flag in param.opts}
        assert {"--json", "--quiet"} <= flags, name
        assert command.epilog.endswith(EXIT_CODES), name
        examples = [line.strip() for line in command.epilog.splitlines() if line.startswith("  hubship ")]
        assert len(examples) == 2 and all(e.startswith(f"hubship {name}") for e in examples), name


def test_plan_and_publish_read_hubship_toml_for_every_option():
    commands = _commands()
    for name in ("plan", "publish"):
        command = commands[name]
        assert isinstance(command, ConfiguredCommand)
        assert {"--method", "--backend", "--config"} <= {f for p in command.params for f in p.opts}
