"""Formats: what a built artifact is, what it is built from, and how a card relates it to the base."""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.suggest import did_you_mean

RELATIONS = ("adapter", "merge", "quantized", "finetune")
# Names that read better for a full fine-tune, which was never merged: the same formats (docs/formats.md). Every
# place a user names a format (`--format`, `--threshold FORMAT.METRIC=VALUE`, hubship.toml) takes them.
FORMAT_ALIASES = {"model-16bit": "merged-16bit", "model-4bit": "merged-4bit"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@attrs.frozen(kw_only=True)
class Format:
    """A format's static description.

    `builds_from` names the formats whose artifacts this one is built from (its DAG edges);
    an empty tuple means it is built from the checkpoint and base directly. `metrics` names the figures its
    verification measures: the ones a `--threshold FORMAT.METRIC=VALUE` may bound. An `internal` format
    (e.g. the reference logits verification compares against) is built when another format needs
    it, but is never requested by a user, listed or published. A `readback` format checks its values itself (tensor by
    tensor), so it reads back only against the short probe (domain/probe.py).
    """

    name: str
    relation: str
    description: str
    builds_from: tuple[str, ...] = ()
    library_name: str = "transformers"
    tools: tuple[str, ...] = ()
    internal: bool = False
    metrics: tuple[str, ...] = ()
    readback: bool = False

    def __attrs_post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"invalid format name {self.name!r}")
        if self.relation not in RELATIONS:
            raise ValueError(f"invalid base_model_relation {self.relation!r}")


def relation_for(fmt: Format, full: bool) -> str:
    """The card's `base_model_relation` of `fmt` built from a checkpoint: a full fine-tune's 16-bit model is a
    fine-tune of its base, not a merge; every other relation is the format's own."""
    return "finetune" if full and fmt.relation == "merge" else fmt.relation


def canonical_format(name: str, aliases: Mapping[str, str] | None = None) -> str:
    """`name` as hubship spells the format: lower case, an alias (`FORMAT_ALIASES`, or `aliases`) replaced by its format."""
    text = name.strip().lower()
    return (FORMAT_ALIASES if aliases is None else aliases).get(text, text)


def parse_format_list(
    values: list[str] | tuple[str, ...], known: tuple[str, ...], aliases: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Split repeated, comma-separated `--format` values; keep order, drop repeats, reject unknown names. An alias
    (`aliases`: alias -> format name) stands for its format."""
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = canonical_format(part, aliases)
            if not name:
                continue
            if name not in known:
                hint = did_you_mean(name, known)
                raise UserInputError(f"unknown format {part.strip()!r}; {hint + ' ' if hint else ''}valid formats: {', '.join(known)}")
            if name not in names:
                names.append(name)
    if not names:
        raise UserInputError(f"no format given; valid formats: {', '.join(known)}")
    return tuple(names)
