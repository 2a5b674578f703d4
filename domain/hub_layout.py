"""Where each format of a publish lands on the Hub, and the Hub options of a publish.

`split` (the default): one repo per kind of artifact, named after the destination `hf:OWNER/NAME`:
NAME holds the merged 16-bit model (or the adapter when nothing merged is published), NAME-lora the
adapter, NAME-bnb-4bit the 4-bit model, NAME-GGUF every GGUF quantization, NAME-MLX-4bit (-8bit, -16bit) each MLX
model, NAME-FP8 and NAME-W4A16 the compressed-tensors models. `single`: one repo with a folder per format.
Pure rules: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.hub_ollama import HUB_OLLAMA_FILES
from hubship.domain.manifest import CARD_NAME, MANIFEST_NAME
from hubship.domain.suggest import did_you_mean

SPLIT = "split"
SINGLE = "single"
LAYOUTS = (SPLIT, SINGLE)
MAIN_FORMAT = "merged-16bit"
ALT_CARD_NAME = "HUBSHIP_CARD.md"
HUB_URL = "https://huggingface.co"
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
# Suffixes as the community names such repos (vLLM's compressed-tensors checkpoints: NAME-FP8, NAME-W4A16)
NAMED_SUFFIXES = {"fp8-dynamic": "-FP8", "w4a16": "-W4A16"}
_REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@attrs.frozen(kw_only=True)
class HubOptions:
    """The options of one publish to the Hub (from `--private`, `--revision`, ... and the requested formats)."""

    formats: tuple[str, ...] = ()
    layout: str = SPLIT
    private: bool = False
    revision: str = "main"
    create_pr: bool = False
    tag: str | None = None
    token_file: str | None = None
    overwrite_card: bool = False


def hub_options(options: Mapping[str, Any]) -> HubOptions:
    """Read and check the Hub options of a publish; a bad one is a UserInputError naming the fix."""
    layout = str(options.get("repo_layout") or SPLIT).lower()
    if layout not in LAYOUTS:
        hint = did_you_mean(layout, LAYOUTS, "use --repo-layout split or --repo-layout single")
        raise UserInputError(f"unknown repo layout {layout!r}; {hint}")
    revision = str(options.get("revision") or "main")
    if not _REF.match(revision) or ".." in revision or revision.endswith((".lock", "/")):
        raise UserInputError(f"invalid branch name {revision!r}; pass --revision with a git branch name such as main or dev")
    tag = options.get("tag") or None
    if tag is not None and not _TAG.match(str(tag)):
        raise UserInputError(f"invalid tag {tag!r}; pass --tag with letters, digits, '.', '_' or '-', e.g. v1.0")
    return HubOptions(
        formats=tuple(options.get("formats") or ()),
        layout=layout,
        private=bool(options.get("private")),
        revision=revision,
        create_pr=bool(options.get("create_pr")),
        tag=str(tag) if tag else None,
        token_file=str(options["token_file"]) if options.get("token_file") else None,
        overwrite_card=bool(options.get("overwrite_card")),
    )


@attrs.frozen
class HubTarget:
    """One format's place: a repo, and a folder in it ("" for the repo root)."""

    repo_id: str
    folder: str = ""

    @property
    def location(self) -> str:
        return f"{self.repo_id}/{self.folder}" if self.folder else self.repo_id

    def path(self, name: str) -> str:
        return f"{self.folder}/{name}" if self.folder else name


def repo_suffix(fmt: str, formats: Iterable[str]) -> str:
    """The split layout's suffix for `fmt`: "" for the main repo, else e.g. "-lora" or "-GGUF"."""
    if fmt == MAIN_FORMAT:
        return ""
    if fmt == "lora":
        return "" if MAIN_FORMAT not in formats else "-lora"
    if fmt.startswith("merged-4bit") or fmt.startswith("bnb"):
        return "-bnb-4bit"
    if fmt.startswith("gguf"):
        return "-GGUF"
    if fmt.startswith("mlx-"):
        return f"-MLX-{fmt.removeprefix('mlx-')}"
    if fmt in NAMED_SUFFIXES:
        return NAMED_SUFFIXES[fmt]
    return f"-{fmt}"


def hub_target(repo_id: str, fmt: str, options: HubOptions) -> HubTarget:
    """Where `fmt` lands for a publish to `hf:repo_id` with these options."""
    if options.layout == SINGLE:
        return HubTarget(repo_id, fmt)
    owner, name = repo_id.split("/", 1)
    full = name + repo_suffix(fmt, options.formats or (fmt,))
    if not _REPO_NAME.match(full):
        raise UserInputError(f"repo name {full!r} (for {fmt}) is longer than the Hub allows; pass a shorter hf:OWNER/NAME")
    return HubTarget(f"{owner}/{full}")


def shares_folder(target: HubTarget, repo_id: str, options: HubOptions) -> tuple[str, ...]:
    """Every requested format that lands in the same repo folder as `target` (sorted)."""
    return tuple(sorted(f for f in options.formats if hub_target(repo_id, f, options) == target))


def manifest_path(target: HubTarget, fmt: str, sharing: tuple[str, ...]) -> str:
    """`manifest.json`, or `<format>.manifest.json` where several formats share one folder (e.g. the GGUF repo)."""
    return target.path(MANIFEST_NAME if len(sharing) <= 1 else f"{fmt}.{MANIFEST_NAME}")


def root_copy(target: HubTarget, fmt: str, path: str) -> str | None:
    """Where a GGUF artifact's Ollama file (`template`, `system`, `params`) in a folder (the single layout) is copied:
    the repo root, the only place the Hub reads it; None for any other file, and where the artifact is at the root."""
    return path if target.folder and fmt.startswith("gguf") and path in HUB_OLLAMA_FILES else None


def card_path(target: HubTarget, user_readme: bool, overwrite_card: bool) -> str:
    """README.md, unless a README someone else wrote is there and may not be overwritten."""
    return target.path(ALT_CARD_NAME if user_readme and not overwrite_card else CARD_NAME)


def parse_hub_ref(text: str) -> tuple[str, str]:
    """`hf:OWNER/NAME[@REVISION]` (the `hf:` optional) as (repo id, revision, default main); a UserInputError if malformed."""
    ref = text.strip().removeprefix("hf:")
    repo_id, _, revision = ref.partition("@")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_REPO_NAME.match(p) for p in parts) or (revision and not _REF.match(revision)):
        raise UserInputError(f"invalid Hub repo {text!r}; use hf:OWNER/NAME or hf:OWNER/NAME@REVISION (a branch, tag or commit)")
    return repo_id, revision or "main"


def hub_url(location: str, revision: str = "main") -> str:
    """A browser link to a repo (`OWNER/NAME`) or to a folder in one (`OWNER/NAME/FOLDER`)."""
    owner, name, *folder = location.split("/", 2)
    return f"{HUB_URL}/{owner}/{name}" + (f"/tree/{revision}/{folder[0]}" if folder else "")
