"""The options commands share, declared once as `Annotated` typer options, and how their values become request options.

Every helper returns request options with unset values as `None`; `request` drops them, so a request
carries only what the user (or hubship.toml) set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import UserInputError
from hubship.domain.quality import parse_threshold
from hubship.entrypoints.container import Container, create_container

Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or messages.")]
Base = Annotated[str | None, typer.Option("--base", "-b", help="Base model folder or hub id (default: the adapter config's).")]
BaseModelId = Annotated[
    str | None,
    typer.Option("--base-model-id", help="Hub id of the base model, for cards and published adapter configs (default: found)."),
]
Pick = Annotated[
    str | None,
    typer.Option("--checkpoint", help="In a trainer's run folder: last, best or N (default: the final model at its root, else the last)."),
]
MergeOnto = Annotated[
    str | None,
    typer.Option("--merge-onto", help="merged-16bit: merge onto these weights (a folder or a cached hub id), e.g. a QLoRA's 16-bit model."),
]
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
Imatrix = Annotated[
    str | None,
    typer.Option(
        "--imatrix",
        help="GGUF importance matrix: auto (default: the low-bit quants are measured with and without one, the better is kept),"
        " on, off, or an imatrix FILE.",
    ),
]
Calibration = Annotated[
    Path | None,
    typer.Option("--calibration", help='Text the imatrix is computed on: plain text, or chat JSONL ({"messages": [...]} a line).'),
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
AllowFrozenDate = Annotated[
    bool,
    typer.Option(
        "--allow-frozen-date", help="ollama: freeze at the publish day a date format the TEMPLATE cannot build (the card says which)."
    ),
]
RequireServer = Annotated[
    bool, typer.Option("--require-server", help="ollama: fail when no server answers (default: write an Ollama-ready folder).")
]


def ollama_options(
    ollama_quant: str | None, allow_generic_template: bool, require_server: bool, allow_frozen_date: bool = False
) -> dict[str, Any]:
    """The ollama: options as request options (unset ones left out)."""
    return {
        "ollama_quant": ollama_quant,
        "allow_generic_template": allow_generic_template or None,
        "require_server": require_server or None,
        "allow_frozen_date": allow_frozen_date or None,
    }


def quality_options(
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


def hub_options(
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


def parse_size(text: str | None) -> int | None:
    """`5GB`, `500MB`, `1.5GiB`, `123` (bytes) as a byte count; None stays None; anything else is a UserInputError."""
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


def container_for(workspace: Path | None, quiet: bool, backend: str = "auto") -> Container:
    """The container for one command; an unusable --backend fails here, before any work."""
    container = create_container({"workspace": workspace, "quiet": quiet, "backend": backend})
    container.backend()
    return container


def request(
    checkpoint: Path, base: str | None, name: str | None, formats: list[str], to: list[str] | None, **options: Any
) -> PublishRequest:
    """A publish request; options left as None (unset) are dropped."""
    return PublishRequest(
        checkpoint=str(checkpoint),
        base=base,
        name=name,
        formats=tuple(formats),
        destinations=tuple(to or ()),
        options={k: v for k, v in options.items() if v is not None},
    )
