"""The `hubship` command: parse, call one use case, render. Errors are one line on stderr.

Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from inspect import signature
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import attrs
import click
import typer

from hubship import __version__
from hubship.application.inspect_checkpoint import InspectRequest
from hubship.application.publish_request import PublishRequest
from hubship.application.verify_publication import VerifyRequest
from hubship.domain.errors import HubshipError, UserInputError, VerificationFailed
from hubship.domain.quality import parse_threshold
from hubship.entrypoints import render
from hubship.entrypoints.configured_command import SETTINGS, ConfiguredCommand
from hubship.entrypoints.container import Container, create_container

EXIT_CODES = "Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 quality gate failed."
QUIET_LIBRARIES = {
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_VERBOSITY": "error",  # hubship reports Hub retries itself, in one line each
}
DEMO_FORMATS = ("lora", "merged-16bit", "merged-4bit", "gguf-q8_0", "gguf-q4_k_m")

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
GgufSplit = Annotated[
    str | None, typer.Option("--gguf-split-max-size", help="Split GGUF files larger than this into llama.cpp shards, e.g. 50GB.")
]
Verify = Annotated[
    str | None, typer.Option("--verify", help="full (default): check each merged artifact's logits against base + adapter; off: skip.")
]
AcceptLoss = Annotated[bool, typer.Option("--accept-quality-loss", help="Publish even when a measured figure breaks its threshold.")]
Threshold = Annotated[
    list[str] | None, typer.Option("--threshold", help="Set a quality threshold, e.g. merged-16bit.mean_kl=1e-6; repeatable.")
]
BnbQuantType = Annotated[str | None, typer.Option("--bnb-quant-type", help="merged-4bit: nf4 (default) or fp4.")]
BnbDoubleQuant = Annotated[bool, typer.Option("--bnb-double-quant", help="merged-4bit: also quantize the quantization constants.")]
Method = Annotated[
    str | None, typer.Option("--method", help="Training method: sft, kto, dpo, orpo, grpo, cpt or unknown (default: detected).")
]
Backend = Annotated[str, typer.Option("--backend", help="auto | hf | unsloth: who merges (auto: unsloth with a GPU and unsloth).")]
Config = Annotated[Path | None, typer.Option("--config", help="Settings file (default: hubship.toml in the checkpoint folder, else here).")]
Private = Annotated[bool, typer.Option("--private", help="hf: create the repos private.")]
Revision = Annotated[str | None, typer.Option("--revision", help="hf: branch to commit to, created if missing (default main).")]
CreatePr = Annotated[bool, typer.Option("--create-pr", help="hf: open a pull request instead of committing to the branch.")]
Tag = Annotated[str | None, typer.Option("--tag", help="hf: git tag made on each repo after its commit.")]
RepoLayout = Annotated[
    str | None,
    typer.Option("--repo-layout", help="hf: split (NAME, NAME-lora, NAME-bnb-4bit, NAME-GGUF; default) or single (a folder per format)."),
]
TokenFile = Annotated[
    Path | None, typer.Option("--token-file", help="hf: file holding the Hub token (default: HF_TOKEN, then the saved login).")
]
OverwriteCard = Annotated[
    bool, typer.Option("--overwrite-card", help="hf: replace a README.md someone else wrote (default: write HUBSHIP_CARD.md beside it).")
]

OllamaQuant = Annotated[str | None, typer.Option("--ollama-quant", help="ollama: which GGUF the model uses (default q4_k_m).")]
AllowGenericTemplate = Annotated[
    bool,
    typer.Option("--allow-generic-template", help="ollama: publish even when no faithful TEMPLATE can be derived (the card warns)."),
]
RequireServer = Annotated[
    bool, typer.Option("--require-server", help="ollama: fail when no server answers (default: write an Ollama-ready folder).")
]


def _ollama_options(ollama_quant: str | None, allow_generic_template: bool, require_server: bool) -> dict[str, Any]:
    """The ollama: options as request options (unset ones left out)."""
    return {
        "ollama_quant": ollama_quant,
        "allow_generic_template": allow_generic_template or None,
        "require_server": require_server or None,
    }


def _quality_options(
    verify: str | None, accept_quality_loss: bool, threshold: list[str] | None, bnb_quant_type: str | None, bnb_double_quant: bool
) -> dict[str, Any]:
    """Verification, quality gate and bitsandbytes options as request options (unset ones left out)."""
    thresholds: dict[str, dict[str, float]] = {}
    for text in threshold or ():
        fmt, metric, value = parse_threshold(text)
        thresholds.setdefault(fmt, {})[metric] = value
    return {
        "verify": verify,
        "accept_quality_loss": accept_quality_loss or None,
        "thresholds": thresholds or None,
        "bnb_quant_type": bnb_quant_type,
        "bnb_double_quant": bnb_double_quant or None,
    }


def _hub_options(
    private: bool,
    revision: str | None,
    create_pr: bool,
    tag: str | None,
    repo_layout: str | None,
    token_file: Path | None,
    overwrite_card: bool,
) -> dict[str, Any]:
    """The hf: options as request options (unset ones left out)."""
    return {
        "private": private or None,
        "revision": revision,
        "create_pr": create_pr or None,
        "tag": tag,
        "repo_layout": repo_layout,
        "token_file": str(token_file) if token_file else None,
        "overwrite_card": overwrite_card or None,
    }


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


def _container(workspace: Path | None, quiet: bool, backend: str = "auto") -> Container:
    container = create_container({"workspace": workspace, "quiet": quiet, "backend": backend})
    container.backend()  # an unusable --backend fails here, before any work
    return container


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


@app.command(epilog=EXIT_CODES)
def inspect(checkpoint: Path, base: Base = None, json_out: Json = False, quiet: Quiet = False) -> None:
    """Say what a checkpoint holds and which base it needs (no weights loaded)."""
    inspection = _container(None, True).inspect_checkpoint().execute(InspectRequest(checkpoint=str(checkpoint), base=base))
    render.emit_json(render.inspection_data(inspection)) if json_out else render.show_inspection(inspection)


def _publish_parameters(
    ctx: typer.Context,
    checkpoint: Path,
    fmt: Formats = [],  # noqa: B006
    base: Base = None,
    name: Name = None,
    to: To = None,
    workspace: Workspace = None,
    dtype: Dtype = None,
    max_shard_size: ShardSize = None,
    gguf_split_max_size: GgufSplit = None,
    method: Method = None,
    backend: Backend = "auto",
    config: Config = None,
    private: Private = False,
    revision: Revision = None,
    create_pr: CreatePr = False,
    tag: Tag = None,
    repo_layout: RepoLayout = None,
    token_file: TokenFile = None,
    overwrite_card: OverwriteCard = False,
    ollama_quant: OllamaQuant = None,
    allow_generic_template: AllowGenericTemplate = False,
    require_server: RequireServer = False,
    verify: Verify = None,
    accept_quality_loss: AcceptLoss = False,
    threshold: Threshold = None,
    bnb_quant_type: BnbQuantType = None,
    bnb_double_quant: BnbDoubleQuant = False,
    json_out: Json = False,
    quiet: Quiet = False,
) -> None:
    """The options `plan` and `publish` share: their signature is copied onto both commands."""


def _with_publish_parameters(command: Callable[..., None]) -> Callable[..., None]:
    command.__signature__ = signature(_publish_parameters, eval_str=True)  # type: ignore[attr-defined]
    command.__annotations__ = get_type_hints(_publish_parameters, include_extras=True)
    return command


def _publish_request(p: dict[str, Any]) -> PublishRequest:
    return _request(
        p["checkpoint"],
        p["base"],
        p["name"],
        p["fmt"],
        p["to"],
        dtype=p["dtype"],
        max_shard_size=parse_size(p["max_shard_size"]),
        method=p["method"],
        gguf_split_max_size=parse_size(p["gguf_split_max_size"]),
        **_hub_options(p["private"], p["revision"], p["create_pr"], p["tag"], p["repo_layout"], p["token_file"], p["overwrite_card"]),
        **_ollama_options(p["ollama_quant"], p["allow_generic_template"], p["require_server"]),
        **_quality_options(p["verify"], p["accept_quality_loss"], p["threshold"], p["bnb_quant_type"], p["bnb_double_quant"]),
    )


@app.command(cls=ConfiguredCommand, epilog=EXIT_CODES)
@_with_publish_parameters
def plan(**p: Any) -> None:
    """Print the publish plan (a DAG of artifacts) with sizes, memory and disk needs, and the settings in force. Builds nothing."""
    container = _container(p["workspace"], p["quiet"] or p["json_out"], p["backend"])
    planned = container.plan_publish().execute(_publish_request(p))
    resolved = {"backend": container.backend()}
    settings = p["ctx"].meta[SETTINGS]
    if p["json_out"]:
        render.emit_json(render.plan_data(planned) | {"settings": render.settings_data(settings, resolved)})
    else:
        render.show_plan(planned)
        render.show_settings(settings, resolved)


@app.command(cls=ConfiguredCommand, epilog=EXIT_CODES)
@_with_publish_parameters
def publish(**p: Any) -> None:
    """Build every requested format and publish each to every destination."""
    container = _container(p["workspace"], p["quiet"] or p["json_out"], p["backend"])
    result = container.execute_plan().execute(_publish_request(p))
    if p["json_out"]:
        render.emit_json(render.result_data(result))
    elif not p["quiet"]:
        render.show_plan(result.planned)
        render.show_result(result)


@app.command(epilog=EXIT_CODES)
def verify(path: Path, json_out: Json = False, quiet: Quiet = False) -> None:
    """Re-hash every file of a publication against its manifest.json; exit 1 on any mismatch."""
    report = _container(None, True).verify_publication().execute(VerifyRequest(path=str(path)))
    if json_out:
        render.emit_json(attrs.asdict(report) | {"ok": report.ok})
    elif not quiet:
        render.show_verify(report)
    if not report.ok:
        raise VerificationFailed(f"{len(report.problems)} file(s) do not match their manifest: {report.problems[0]}")


@app.command(epilog=EXIT_CODES)
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
