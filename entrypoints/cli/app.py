"""The `hubship` typer app (its commands registered in the order `--help` lists them) and `main`, which runs it.

Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed. Every error is one line on
stderr (a traceback too with HUBSHIP_DEBUG=1).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from typing import Annotated

import click
import typer

from hubship import __version__
from hubship.domain.errors import HubshipError
from hubship.entrypoints.cli.demo import demo
from hubship.entrypoints.cli.inspect import inspect
from hubship.entrypoints.cli.options import FORMATS_POINTER
from hubship.entrypoints.cli.publish import plan, publish
from hubship.entrypoints.cli.verify import verify
from hubship.entrypoints.configured_command import ConfiguredCommand
from hubship.entrypoints.container import create_container
from hubship.entrypoints.help_command import EXIT_CODES, HelpCommand, epilog

QUIET_LIBRARIES = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_VERBOSITY": "error",  # hubship reports Hub retries itself, in one line each
    "TQDM_DISABLE": "1",  # libraries' own tqdm bars (compressed-tensors' "Compressing model"): hubship draws its own
}

try:  # typer vendors its own copy of click (typer._click) in recent releases; older ones raise click's exceptions
    from typer._click.exceptions import UsageError as _TyperUsageError
except ImportError:  # pragma: no cover
    _TyperUsageError = click.exceptions.UsageError
USAGE_ERRORS = (click.exceptions.UsageError, _TyperUsageError)
ABORTS = (click.exceptions.Abort, typer.Abort)

app = typer.Typer(
    name="hubship",
    help=f"Publish a fine-tuning checkpoint as adapter, merged, 4-bit and GGUF artifacts. {FORMATS_POINTER} {EXIT_CODES}",
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


app.command(
    cls=HelpCommand, epilog=epilog("hubship inspect ./outputs/checkpoint-500", "hubship inspect ./my-lora --base ./models/base --json")
)(inspect)
app.command(
    cls=ConfiguredCommand,
    epilog=epilog(
        "hubship plan ./outputs/checkpoint-500 -f lora,gguf-q4_k_m --to hf:me/smol",
        "hubship plan ./my-lora -f merged-16bit --to dir:./published --json",
    ),
)(plan)
app.command(
    cls=ConfiguredCommand,
    epilog=epilog(
        "hubship publish ./outputs/checkpoint-500 -f lora,gguf-q4_k_m --to hf:me/smol",
        "hubship publish ./my-lora -f merged-16bit --to ollama:smol --to dir:./out",
    ),
)(publish)
app.command(cls=HelpCommand, epilog=epilog("hubship verify ./published/smol", "hubship verify hf:me/smol-GGUF@v1.0"))(verify)
app.command(cls=HelpCommand, epilog=epilog("hubship demo", "hubship demo --to dir:./published --to ollama:tiny-demo"))(demo)


INTERRUPTED = "interrupted: nothing half-published; re-run the same command to continue"


def _fail(message: str, code: int) -> int:
    print(f"hubship: error: {message}", file=sys.stderr)
    return code


class _Interrupts:
    """Ctrl-C, remembered: typer swallows the KeyboardInterrupt (it returns 130 in silence), and a tool killed
    by the same SIGINT may fail first (a converter's non-zero exit); either way the run reads as interrupted."""

    def __init__(self) -> None:
        self.seen = False

    def handle(self, signum: int, frame: object) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self.handle)


def _code(exc: BaseException, debug: bool) -> int:
    """The exit code of a failed run, after its one line on stderr (a traceback too with HUBSHIP_DEBUG=1)."""
    if isinstance(exc, (*ABORTS, KeyboardInterrupt)):  # every step writes to staging: the line is true
        print(INTERRUPTED, file=sys.stderr, flush=True)
        return 130
    if isinstance(exc, HubshipError):
        if debug:
            traceback.print_exception(exc)
        return _fail(exc.message, exc.exit_code)
    if isinstance(exc, USAGE_ERRORS):
        if type(exc).__name__ == "NoArgsIsHelpError":  # `hubship` alone: the help, as click prints it
            print(exc.format_message(), file=sys.stderr)
            return 2
        return _fail(f"{exc.format_message()} (see hubship {exc.ctx.info_name if exc.ctx else ''} --help)".replace("  ", " "), 2)
    if debug:
        traceback.print_exception(exc)
    first = str(exc).splitlines()[0] if str(exc) else ""
    return _fail(f"unexpected {type(exc).__name__}: {first} (re-run with HUBSHIP_DEBUG=1 for details)", 1)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every error becomes one line on stderr and an exit code (traceback with HUBSHIP_DEBUG=1).
    After Ctrl-C: exit 130 and one line saying nothing is half-published and how to continue."""
    debug = os.environ.get("HUBSHIP_DEBUG") == "1"
    if debug:  # hubship's loggers on stderr, llama.cpp's own log among them (adapters/llama_cpp/log.py)
        _log_to_stderr(logging.getLogger("hubship"))
    for key, value in QUIET_LIBRARIES.items():  # hubship draws its own progress bars
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module="peft|transformers")
    command = typer.main.get_command(app)
    interrupts = _Interrupts()
    interrupts.install()
    try:
        code = command.main(args=argv, prog_name="hubship", standalone_mode=False)
        code = code if isinstance(code, int) else 0
        if interrupts.seen:  # typer turns KeyboardInterrupt into a silent `return 130`
            code = _code(KeyboardInterrupt(), debug)
    except Exception as exc:
        code = _code(KeyboardInterrupt() if interrupts.seen else exc, debug)
    except KeyboardInterrupt as exc:
        code = _code(exc, debug)
    if argv is None:  # the command line, not a caller in this process (tests pass argv)
        _exit_now(code)
    sys.exit(code)


def _log_to_stderr(logger: logging.Logger) -> None:
    if any(getattr(h, "hubship_debug", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
    handler.hubship_debug = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def _exit_now(code: int) -> None:
    """End the process without tearing down every module: with torch and transformers loaded that teardown
    takes a second or more after the work is done. The exit handlers still run and the streams are flushed;
    with another thread still alive, or a profiler or tracer attached (it writes its results at exit), the
    ordinary exit is kept."""
    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
