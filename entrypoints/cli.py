"""The `hubship` command: parse, call one use case, render. Errors are one line on stderr.

Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import Annotated, Any

import attrs
import click
import typer

from hubship import __version__
from hubship.application.inspect_checkpoint import InspectRequest
from hubship.application.publish_request import PublishRequest
from hubship.application.verify_publication import VerifyRequest
from hubship.domain.errors import HubshipError, UserInputError, VerificationFailed
from hubship.entrypoints import render
from hubship.entrypoints.container import Container, create_container

EXIT_CODES = "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed."
QUIET_LIBRARIES = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
DEMO_FORMATS = ("lora", "merged-16bit", "merged-4bit", "gguf-q8_0", "gguf-q4_k_m")

app = typer.Typer(
    name="hubship",
    help=f"Publish a fine-tuning checkpoint as adapter, merged, 4-bit and GGUF artifacts. {EXIT_CODES}",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or messages.")]
Base = Annotated[str | None, typer.Option("--base", "-b", help="Base model folder or hub id (default: the adapter config's).")]
Formats = Annotated[list[str], typer.Option("--format", "-f", help="Formats, comma-separated; repeatable.")]
To = Annotated[
    list[str] | None, typer.Option("--to", "-t", help="dir:PATH | hf:OWNER/NAME | ollama:NAME[:TAG]; repeatable. Default dir:./published.")
]
Name = Annotated[str | None, typer.Option("--name", "-n", help="Published name (default: the checkpoint folder's).")]
Workspace = Annotated[Path | None, typer.Option("--workspace", "-w", help="Folder for intermediate artifacts (default: user cache).")]
Dtype = Annotated[str | None, typer.Option("--dtype", help="Merged dtype: bf16, fp16 or fp32 (default: the base's).")]
ShardSize = Annotated[str | None, typer.Option("--max-shard-size", help="Largest output shard, e.g. 5GB or 500MB.")]


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


def parse_size(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
    value = text.strip().upper().replace(" ", "")
    number = value.rstrip("KMGTIB")
    try:
        size = int(float(number) * units[value[len(number) :]])
    except (ValueError, KeyError):
        raise UserInputError(f"invalid size {text!r}; use a number with a unit, e.g. 5GB or 500MB") from None
    if size <= 0:
        raise UserInputError(f"invalid size {text!r}; it must be positive")
    return size


def _container(workspace: Path | None, quiet: bool) -> Container:
    return create_container({"workspace": workspace, "quiet": quiet})


def _request(
    checkpoint: Path, base: str | None, name: str | None, formats: list[str], to: list[str] | None, **options: Any
) -> PublishRequest:
    return PublishRequest(
        checkpoint=str(checkpoint),
        base=base,
        name=name,
        formats=tuple(formats),
        destinations=tuple(to or ()),
        options={k: v for k, v in options.items() if v is not None},
    )


@app.command()
def inspect(checkpoint: Path, base: Base = None, json_out: Json = False) -> None:
    """Say what a checkpoint holds and which base it needs (no weights loaded)."""
    inspection = _container(None, True).inspect_checkpoint().execute(InspectRequest(checkpoint=str(checkpoint), base=base))
    render.emit_json(render.inspection_data(inspection)) if json_out else render.show_inspection(inspection)


@app.command()
def plan(
    checkpoint: Path,
    fmt: Formats = [],  # noqa: B006
    base: Base = None,
    name: Name = None,
    to: To = None,
    workspace: Workspace = None,
    dtype: Dtype = None,
    max_shard_size: ShardSize = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Print the publish plan (a DAG of artifacts) with sizes, memory and disk needs. Builds nothing."""
    request = _request(checkpoint, base, name, fmt, to, dtype=dtype, max_shard_size=parse_size(max_shard_size))
    planned = _container(workspace, quiet or json_out).plan_publish().execute(request)
    render.emit_json(render.plan_data(planned)) if json_out else render.show_plan(planned)


@app.command()
def publish(
    checkpoint: Path,
    fmt: Formats = [],  # noqa: B006
    base: Base = None,
    name: Name = None,
    to: To = None,
    workspace: Workspace = None,
    dtype: Dtype = None,
    max_shard_size: ShardSize = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Build every requested format and publish each to every destination."""
    request = _request(checkpoint, base, name, fmt, to, dtype=dtype, max_shard_size=parse_size(max_shard_size))
    container = _container(workspace, quiet or json_out)
    result = container.execute_plan().execute(request)
    if json_out:
        render.emit_json(render.result_data(result))
    else:
        render.show_plan(result.planned)
        render.show_result(result)


@app.command()
def verify(path: Path, json_out: Json = False) -> None:
    """Re-hash every file of a publication against its manifest.json; exit 1 on any mismatch."""
    report = _container(None, True).verify_publication().execute(VerifyRequest(path=str(path)))
    if json_out:
        render.emit_json(attrs.asdict(report) | {"ok": report.ok})
    else:
        render.show_verify(report)
    if not report.ok:
        raise VerificationFailed(f"{len(report.problems)} file(s) do not match their manifest: {report.problems[0]}")


@app.command()
def demo(
    to: To = None,
    workspace: Workspace = None,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """Build a tiny real Llama + LoRA checkpoint locally and publish every available format of it."""
    container = _container(workspace, quiet or json_out)
    root = Path(container.config.workspace()) / "demo"
    if not (root / "checkpoint" / "adapter_config.json").is_file():
        container.progress().message(f"building the demo checkpoint in {root}")
        container.demo_factory().create(root)
    available = container.formats().names
    formats = [f for f in DEMO_FORMATS if f in available]
    request = _request(root / "checkpoint", None, "tiny-llama-sft-demo", [",".join(formats)], to)
    result = container.execute_plan().execute(request)
    if json_out:
        render.emit_json(render.result_data(result))
    else:
        render.show_plan(result.planned)
        render.show_result(result)


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
    except click.exceptions.UsageError as exc:
        code = _fail(f"{exc.format_message()} (see hubship {exc.ctx.info_name if exc.ctx else ''} --help)".replace("  ", " "), 2)
    except click.exceptions.Abort:
        code = _fail("interrupted", 130)
    except KeyboardInterrupt:
        code = _fail("interrupted; re-run the same command to continue where it stopped", 130)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        code = _fail(f"unexpected {type(exc).__name__}: {first} (re-run with HUBSHIP_DEBUG=1 for details)", 1)
    sys.exit(code)
