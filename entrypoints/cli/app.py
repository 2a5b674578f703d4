"""The `hubship` typer app (its commands registered in the order `--help` lists them) and `main`, which runs it.

Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed. Every error is one line on
stderr (a traceback too with HUBSHIP_DEBUG=1).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from typing import Annotated

import click
import typer

from hubship import __version__
from hubship.domain.errors import HubshipError
from hubship.entrypoints.cli.demo import demo
from hubship.entrypoints.cli.inspect import inspect
from hubship.entrypoints.cli.publish import plan, publish
from hubship.entrypoints.cli.verify import verify
from hubship.entrypoints.configured_command import ConfiguredCommand
from hubship.entrypoints.container import create_container

EXIT_CODES = "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed."
QUIET_LIBRARIES = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_VERBOSITY": "error",  # hubship reports Hub retries itself, in one line each
}

try:  # typer vendors its own copy of click (typer._click) in recent releases; older ones raise click's exceptions
    from typer._click.exceptions import UsageError as _TyperUsageError
except ImportError:  # pragma: no cover
    _TyperUsageError = click.exceptions.UsageError
USAGE_ERRORS = (click.exceptions.UsageError, _TyperUsageError)
ABORTS = (click.exceptions.Abort, typer.Abort)

app = typer.Typer(
    name="hubship",
    help=f"Publish a fine-tuning checkpoint as adapter, merged, 4-bit and GGUF artifacts. {EXIT_CODES}",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        versions = create_container().probe().tool_versions()
        print(f"hubship {__version__}")
        for name, ver in sorted(versions.items()):
            if name != "hubship":
                print(f"  {name} {ver}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show versions and exit.")] = False,
) -> None:
    """hubship: publish fine-tunes everywhere people run models."""


app.command(epilog=EXIT_CODES)(inspect)
app.command(cls=ConfiguredCommand, epilog=EXIT_CODES)(plan)
app.command(cls=ConfiguredCommand, epilog=EXIT_CODES)(publish)
app.command(epilog=EXIT_CODES)(verify)
app.command(epilog=EXIT_CODES)(demo)


def _fail(message: str, code: int) -> int:
    print(f"hubship: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error becomes one line on stderr and an exit code (traceback with HUBSHIP_DEBUG=1)."""
    debug = os.environ.get("HUBSHIP_DEBUG") == "1"
    for key, value in QUIET_LIBRARIES.items():  # hubship draws its own progress bars
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft|transformers")
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="hubship", standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except HubshipError as exc:
        if debug:
            traceback.print_exc()
        code = _fail(exc.message, exc.exit_code)
    except USAGE_ERRORS as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `hubship` alone: the help, as click prints it
            print(exc.format_message(), file=sys.stderr)
            code = 2
        else:
            code = _fail(f"{exc.format_message()} (see hubship {exc.ctx.info_name if exc.ctx else ''} --help)".replace("  ", " "), 2)
    except ABORTS:
        code = _fail("interrupted", 130)
    except KeyboardInterrupt:
        code = _fail("interrupted; re-run the same command to continue where it stopped", 130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        code = _fail(f"unexpected {type(exc).__name__}: {first} (re-run with HUBSHIP_DEBUG=1 for details)", 1)
    sys.exit(code)
