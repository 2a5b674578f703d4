"""Where artifacts are published: `dir:PATH`, `hf:OWNER/NAME`, `ollama:NAME[:TAG]`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.names import hub_name_problem
from hubship.domain.suggest import closest

SCHEMES = ("dir", "hf", "ollama")
DEFAULT_DESTINATION = "dir:./published"
SCHEME_ALIASES = {"huggingface": "hf", "hub": "hf", "folder": "dir", "path": "dir"}  # what people type for a scheme
_OLLAMA_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?$")


@attrs.frozen
class Destination:
    """A parsed destination. `target` is a path, a repo id or an Ollama model name.

    `options` carries the publish's options (and `formats`, the requested format names) to the
    registry; it takes no part in equality, so one destination is one destination whatever they are.
    """

    scheme: str
    target: str
    options: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False, kw_only=True)

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def _check_hf(target: str) -> None:
    parts = target.split("/")
    if len(parts) != 2 or any(hub_name_problem(p) for p in parts):
        raise UserInputError(f"invalid Hub repo id {target!r}: use hf:OWNER/NAME (letters, digits, '-', '_', '.')")


def _check_ollama(target: str) -> None:
    if not _OLLAMA_NAME.match(target) or len(target) > 200:
        raise UserInputError(f"invalid Ollama model name {target!r}: use ollama:NAME[:TAG] in lower case, e.g. ollama:my-model:q4")


def _meant(value: str, scheme: str, sep: str, target: str) -> str:
    """What a malformed `--to` most likely meant: `dir:` before a bare path, a known scheme for a mistyped one."""
    if not sep or (len(scheme) == 1 and target.startswith(("\\", "/"))):  # a bare path, or a Windows drive letter
        return f"; did you mean 'dir:{value.strip()}'?" if value.strip() else ""
    near = SCHEME_ALIASES.get(scheme) or closest(scheme, SCHEMES, cutoff=0.6)
    return f"; did you mean '{near}:{target}'?" if near and target else ""


def parse_destination(value: str) -> Destination:
    """Parse one `--to` value; a malformed one is a UserInputError naming the accepted forms (and the likely one)."""
    scheme, sep, target = value.partition(":")
    scheme = scheme.strip().lower()
    target = target.strip()
    if not sep or scheme not in SCHEMES or not target:
        raise UserInputError(
            f"malformed destination {value!r}: use dir:PATH, hf:OWNER/NAME or ollama:NAME[:TAG]{_meant(value, scheme, sep, target)}"
        )
    if scheme == "hf":
        _check_hf(target)
    elif scheme == "ollama":
        _check_ollama(target)
    elif "\x00" in target:
        raise UserInputError(f"malformed destination {value!r}: the path holds a NUL byte")
    return Destination(scheme, target)


def parse_destinations(values: list[str] | tuple[str, ...]) -> tuple[Destination, ...]:
    """Parse every `--to`; none given means the local registry default."""
    parsed: list[Destination] = []
    for value in values or (DEFAULT_DESTINATION,):
        dest = parse_destination(value)
        if dest not in parsed:
            parsed.append(dest)
    return tuple(parsed)


def local_folder(destinations: tuple[Destination, ...] | list[Destination]) -> Destination:
    """The folder a publish keeps what a service could not take (an Ollama-ready folder when no server answers):
    its first `dir:` destination, else the default local registry."""
    return next((d for d in destinations if d.scheme == "dir"), None) or parse_destination(DEFAULT_DESTINATION)
