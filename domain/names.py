"""The publish name: the word in folder names, GGUF file names and card titles, and where it came from.

The name is `--name`; else the NAME of the single `hf:OWNER/NAME` destination; else one derived from the
checkpoint folder. It becomes a folder under a `dir:` destination, so it is one portable path component:
letters, digits, '.', '_' and '-', starting with a letter or digit, no '..', not ending in '.', no Windows
device name (CON, NUL, COM1...), at most 96 characters. With an `hf:` destination it also keeps the Hub's
repo-name rules (no '--', no '-' or '.git' at the end); with an `ollama:` destination, Ollama's (at most 80
characters). An explicit name that breaks a rule is refused (UserInputError, before any work); a derived
one is cleaned into one that keeps every rule. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import attrs

from hubship.domain.errors import UserInputError

if TYPE_CHECKING:  # destination.py checks Hub names with this module's rule
    from hubship.domain.destination import Destination

FROM_FLAG = "--name"
FROM_FOLDER = "the checkpoint folder"
MAX_LENGTH = 96  # the Hub's limit on a repo name
OLLAMA_MAX_LENGTH = 80  # Ollama's limit on each part of a model name
_PORTABLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"{port}{i}" for port in ("com", "lpt") for i in range(1, 10))})


@attrs.frozen
class PublishName:
    """The name of one publish, and where it came from (`--name`, `hf:OWNER/NAME`, or the checkpoint folder)."""

    value: str
    origin: str


def hub_name_problem(part: str) -> str | None:
    """Why `part` cannot be an OWNER or NAME on the Hub (None: it can)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}", part):
        return "the Hub allows 1 to 96 letters, digits, '-', '_' and '.', starting with a letter or digit"
    if "--" in part or ".." in part or part.endswith(("-", ".", ".git")):
        return "the Hub allows no '--' or '..', and no '-', '.' or '.git' at the end"
    return None


def name_problem(name: str, schemes: Collection[str]) -> str | None:
    """Why `name` cannot name a publish to destinations of these schemes (None: it can)."""
    if "/" in name or "\\" in name:
        return "it holds a path separator"
    if ".." in name:
        return "it holds '..'"
    if not _PORTABLE.match(name):
        return "use letters, digits, '.', '_' and '-', starting with a letter or digit"
    if len(name) > MAX_LENGTH:
        return f"it is longer than {MAX_LENGTH} characters"
    if name.endswith("."):
        return "it ends with '.', which Windows drops from folder names"
    if name.split(".")[0].lower() in _DEVICES:
        return "it is a device name on Windows"
    if "hf" in schemes and (problem := hub_name_problem(name)):
        return problem
    if "ollama" in schemes and len(name) > OLLAMA_MAX_LENGTH:
        return f"Ollama allows at most {OLLAMA_MAX_LENGTH} characters"
    return None


def clean_name(text: str) -> str:
    """`text` made into a name every destination accepts (runs of other characters become '-')."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    name = re.sub(r"\.{2,}", ".", re.sub(r"-{2,}", "-", name))[:OLLAMA_MAX_LENGTH]
    name = _trim_end(re.sub(r"^[^A-Za-z0-9]+", "", name))
    while name.lower().endswith(".git"):
        name = _trim_end(name[:-4])
    if not name:
        return "model"
    return f"{_trim_end(name[: OLLAMA_MAX_LENGTH - 6])}-model" if name.split(".")[0].lower() in _DEVICES else name


def _trim_end(name: str) -> str:
    """`name` without the '-' and '.' (and other non-word characters) it ends with."""
    return re.sub(r"[^A-Za-z0-9_]+$", "", name)


def chosen_name(explicit: str | None, destinations: Sequence[Destination]) -> PublishName | None:
    """`--name` (checked), else the NAME of the single `hf:` destination; None when the checkpoint folder names it.

    A name that breaks a rule of these destinations is a UserInputError, raised before any work starts.
    """
    schemes = {d.scheme for d in destinations}
    if explicit is not None:
        if problem := name_problem(explicit, schemes):
            raise UserInputError(f"invalid --name {explicit!r}: {problem}; pass a name such as my-model")
        return PublishName(explicit, FROM_FLAG)
    hubs = [d for d in destinations if d.scheme == "hf"]
    if len(hubs) != 1:
        return None
    value = hubs[0].target.split("/", 1)[1]
    if problem := name_problem(value, schemes):
        raise UserInputError(f"the name {value!r} of {hubs[0]} cannot name the published files: {problem}; pass --name")
    return PublishName(value, str(hubs[0]))


def folder_name(stem: str) -> PublishName:
    """The name derived from the checkpoint folder's `stem`, cleaned."""
    return PublishName(clean_name(stem), FROM_FOLDER)
