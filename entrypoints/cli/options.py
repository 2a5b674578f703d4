"""The options commands share, declared once as `Annotated` typer options (request_options turns their values into
request options)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from hubship.application.formats.merged_4bit import QUANT_TYPES
from hubship.application.formats.merged_16bit import DTYPE_BYTES
from hubship.application.formats.reference_logits import VERIFY_MODES
from hubship.domain.backend import BACKENDS
from hubship.domain.bos_choice import BOS_POLICIES
from hubship.domain.errors import UserInputError
from hubship.domain.hub_layout import LAYOUTS
from hubship.domain.imatrix import mistyped_mode
from hubship.domain.suggest import did_you_mean
from hubship.domain.training_method import METHODS
from hubship.entrypoints.container import Container, create_container

DTYPES = tuple(DTYPE_BYTES)
FORMATS_POINTER = (
    "Formats: lora, merged-16bit, merged-4bit, gguf-<quant> (e.g. gguf-q4_k_m, gguf-q8_0), gguf-lora; all of them: docs/formats.md."
)


def one_of(flag: str, choices: Iterable[str]) -> Callable[[str | None], str | None]:
    """A typer callback refusing a value outside `choices` (case-insensitive) with a "did you mean" (typed or from hubship.toml)."""
    allowed = tuple(choices)

    def check(value: str | None) -> str | None:
        if value is None or str(value).strip().lower() in allowed:
            return value
        hint = did_you_mean(str(value).strip().lower(), allowed, f"use {', '.join(allowed[:-1])} or {allowed[-1]}")
        raise UserInputError(f"invalid {flag} {value!r}; {hint}")

    return check


def choice(flag: str, metavar: str, choices: Iterable[str], help: str) -> Any:
    """A typer option taking one of `choices`, checked by `one_of`."""
    return typer.Option(flag, metavar=metavar, callback=one_of(flag, choices), help=help)


CheckpointArg = Annotated[
    Path, typer.Argument(metavar="CHECKPOINT", help="The checkpoint: an adapter folder, a whole model, or a trainer's run folder.")
]
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or messages.")]
Base = Annotated[
    str | None,
    typer.Option(
        "--base",
        "-b",
        metavar="BASE",
        help="Base model folder or hub id (default: the adapter config's); for a full fine-tune, the model it was tuned from.",
    ),
]
BaseModelId = Annotated[
    str | None,
    typer.Option(
        "--base-model-id", metavar="ID", help="Hub id of the base model, for cards and published adapter configs (default: found)."
    ),
]
Pick = Annotated[
    str | None,
    typer.Option(
        "--checkpoint",
        metavar="WHICH",
        help="In a trainer's run folder: last, best or N (default: the final model at its root, else the last).",
    ),
]
MergeOnto = Annotated[
    str | None,
    typer.Option(
        "--merge-onto",
        metavar="MODEL",
        help="merged-16bit: merge onto these weights (a folder or a cached hub id), e.g. a QLoRA's 16-bit model.",
    ),
]
Formats = Annotated[
    list[str], typer.Option("--format", "-f", metavar="LIST", help=f"Formats to build, comma-separated; repeatable. {FORMATS_POINTER}")
]
To = Annotated[
    list[str] | None,
    typer.Option(
        "--to",
        "-t",
        metavar="DEST",
        help="Where to publish: dir:PATH | hf:OWNER/NAME | ollama:NAME[:TAG]; repeatable. Default dir:./published.",
    ),
]
Name = Annotated[str | None, typer.Option("--name", "-n", metavar="NAME", help="Published name (default: the checkpoint folder's).")]
Workspace = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w", metavar="DIR", envvar="HUBSHIP_WORKSPACE", help="Folder for intermediate artifacts (default: user cache)."
    ),
]
Dtype = Annotated[
    str | None,
    choice("--dtype", "DTYPE", DTYPES, "Merged dtype: bf16, fp16 or fp32 (default: the base's)."),
]
ShardSize = Annotated[str | None, typer.Option("--max-shard-size", metavar="SIZE", help="Largest output shard, e.g. 5GB or 500MB.")]
GgufSplit = Annotated[
    str | None,
    typer.Option("--gguf-split-max-size", metavar="SIZE", help="Split GGUF files larger than this into llama.cpp shards, e.g. 50GB."),
]
Verify = Annotated[
    str | None,
    choice("--verify", "MODE", VERIFY_MODES, "full (default): check each merged artifact's logits against base + adapter; off: skip."),
]


def imatrix_value(value: str | None) -> str | None:
    """A typer callback refusing an `--imatrix` value that is no existing file but close to a mode (`autp`), with a
    "did you mean" (typed or from hubship.toml); a missing file that looks like one is refused when the plan needs it."""
    if value is None or Path(str(value).strip()).expanduser().exists():
        return value
    meant = mistyped_mode(str(value))
    if meant is not None:
        raise UserInputError(f"invalid --imatrix {value!r} (no such file); did you mean {meant!r}?")
    return value


Imatrix = Annotated[
    str | None,
    typer.Option(
        "--imatrix",
        metavar="MODE",
        callback=imatrix_value,
        help="GGUF importance matrix: auto (default: the low-bit quants are measured with and without one, the better is kept),"
        " on, off, or an imatrix FILE.",
    ),
]
Calibration = Annotated[
    Path | None,
    typer.Option(
        "--calibration", metavar="FILE", help='Text the imatrix is computed on: plain text, or chat JSONL ({"messages": [...]} a line).'
    ),
]
AcceptLoss = Annotated[bool, typer.Option("--accept-quality-loss", help="Publish even when a measured figure breaks its threshold.")]
Threshold = Annotated[
    list[str] | None,
    typer.Option("--threshold", metavar="FORMAT.METRIC=VALUE", help="Set a quality threshold, e.g. merged-16bit.mean_kl=1e-6; repeatable."),
]
BnbQuantType = Annotated[
    str | None,
    choice("--bnb-quant-type", "TYPE", QUANT_TYPES, "merged-4bit: nf4 (default) or fp4."),
]
BnbDoubleQuant = Annotated[bool, typer.Option("--bnb-double-quant", help="merged-4bit: also quantize the quantization constants.")]
Method = Annotated[
    str | None,
    choice("--method", "METHOD", METHODS, "Training method: sft, kto, dpo, orpo, grpo, cpt or unknown (default: detected)."),
]
Backend = Annotated[
    str,
    choice("--backend", "BACKEND", BACKENDS, "auto | hf | unsloth: who merges (auto: unsloth with a GPU and unsloth)."),
]
Config = Annotated[
    Path | None, typer.Option("--config", metavar="FILE", help="Settings file (default: hubship.toml in the checkpoint folder, else here).")
]
Private = Annotated[bool, typer.Option("--private", help="hf: create the repos private.")]
Revision = Annotated[
    str | None, typer.Option("--revision", metavar="BRANCH", help="hf: branch to commit to, created if missing (default main).")
]
CreatePr = Annotated[bool, typer.Option("--create-pr", help="hf: open a pull request instead of committing to the branch.")]
Tag = Annotated[str | None, typer.Option("--tag", metavar="TAG", help="hf: git tag made on each repo after its commit.")]
RepoLayout = Annotated[
    str | None,
    choice(
        "--repo-layout",
        "LAYOUT",
        LAYOUTS,
        "hf: split (NAME, NAME-lora, NAME-bnb-4bit, NAME-GGUF; default) or single (a folder per format).",
    ),
]
TokenFile = Annotated[
    Path | None,
    typer.Option("--token-file", metavar="FILE", help="hf: file holding the Hub token (default: HF_TOKEN, then the saved login)."),
]
OverwriteCard = Annotated[
    bool, typer.Option("--overwrite-card", help="hf: replace a README.md someone else wrote (default: write HUBSHIP_CARD.md beside it).")
]

OllamaQuant = Annotated[
    str | None, typer.Option("--ollama-quant", metavar="QUANT", help="ollama: which GGUF the model uses (default q4_k_m).")
]
AllowGenericTemplate = Annotated[
    bool,
    typer.Option("--allow-generic-template", help="ollama: publish even when no faithful TEMPLATE can be derived (the card warns)."),
]
AllowFrozenDate = Annotated[
    bool,
    typer.Option(
        "--allow-frozen-date", help="ollama: freeze at the publish day a date format the TEMPLATE cannot build (the card says which)."
    ),
]
Bos = Annotated[
    str | None,
    choice(
        "--bos",
        "FROM",
        BOS_POLICIES,
        "GGUF/ollama: a BOS token the chat template does not write is fed as `tokenizer(text)` adds it (tokenizer, default)"
        " or not at all (template); the card says which.",
    ),
]
RequireServer = Annotated[
    bool, typer.Option("--require-server", help="ollama: fail when no server answers (default: write an Ollama-ready folder).")
]


def container_for(workspace: Path | None, quiet: bool, backend: str = "auto") -> Container:
    """The container for one command; an unusable --backend fails here, before any work."""
    container = create_container({"workspace": workspace, "quiet": quiet, "backend": backend})
    container.backend()
    return container
