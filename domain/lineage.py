"""Which hub ids a publication names: the base a published adapter loads onto, and the upstream model a card's
`base_model` points to. Pure rules over facts an adapter gathers about the base folder.

A published adapter_config.json and a card name hub ids, never local paths. Where each id comes from:

- an adapter on a 16-bit base: `--base-model-id`; else the hub id the checkpoint names for its base (its
  adapter_config.json, or `--base`); else the repo id of the Hugging Face cache folder the base lies in; else
  the base's config.json `_name_or_path` when it is a hub id; else the base's README `base_model:`. The
  upstream is that same id.
- an adapter on a quantized (bitsandbytes) base: the id it was trained on is the quantized repo's (the named
  id, else the cache's); the upstream is `--base-model-id`, else the quantized base's README `base_model:`,
  else its config `_name_or_path`; where none resolves, the quantized id, with a card note. The adapter config
  names the quantized id when known (what the adapter was trained on), else the upstream.
- a full fine-tune: the upstream is `--base-model-id`, else its README `base_model:`, else its config's
  `_name_or_path`. There is no adapter config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from hubship.domain.errors import UserInputError

FLAG = "--base-model-id"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_hub_id(text: str | None) -> bool:
    """Whether `text` has the shape of a hub id `OWNER/NAME` (and not of a relative or absolute path)."""
    return bool(text) and bool(_HUB_ID.match(str(text))) and not str(text).startswith((".", "/", "~"))


def cache_repo_id(path: str) -> str | None:
    """The repo id of a Hugging Face cache snapshot folder (`.../models--OWNER--NAME/snapshots/REV`), else None."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    if len(parts) < 3 or parts[-2] != "snapshots" or not parts[-3].startswith("models--"):
        return None
    owner, _, name = parts[-3].removeprefix("models--").partition("--")
    repo = f"{owner}/{name}"
    return repo if name and looks_like_hub_id(repo) else None


@attrs.frozen
class NamedId:
    """A hub id and where it came from (words that follow "from", e.g. `the Hugging Face cache`)."""

    id: str
    source: str

    def __str__(self) -> str:
        return f"{self.id} (from {self.source})"


@attrs.frozen(kw_only=True)
class LineageFacts:
    """What a model folder says about its own name; each is None when it says nothing (gathered by an adapter)."""

    cache_repo_id: str | None = None  # the Hugging Face cache folder it lies in
    card_base_model: str | None = None  # its README's front matter `base_model:` (the first, when a list)
    config_name: str | None = None  # its config.json `_name_or_path`


@attrs.frozen(kw_only=True)
class Lineage:
    """The ids a publication names. `base`: what a published adapter's config names (None: nothing resolved);
    `upstream`: the card's `base_model`; `trained_on`: the quantized base an adapter was trained on, when it has
    a hub id; `notes`: what the card must say about them."""

    base: NamedId | None = None
    upstream: NamedId | None = None
    trained_on: NamedId | None = None
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for `plan`: which id, and where it came from."""
        if self.upstream is None:
            return f"base id: none found (the base is a local folder; pass {FLAG} OWNER/NAME to name it)"
        if self.base is None or self.base == self.upstream:
            return f"base model {self.upstream}"
        return f"base id {self.base}; upstream {self.upstream}"


def _first(*candidates: NamedId | None) -> NamedId | None:
    return next((c for c in candidates if c is not None), None)


def _named(value: str | None, source: str) -> NamedId | None:
    return NamedId(str(value), source) if looks_like_hub_id(value) else None


def resolve_lineage(*, kind: str, quantized: bool, named: NamedId | None, facts: LineageFacts, flag: str | None) -> Lineage:
    """The lineage of a publication from the checkpoint's `kind` (adapter or full), whether its base is quantized,
    the hub id the checkpoint names for its base (`named`), the base folder's `facts` and `--base-model-id`."""
    if flag is not None and not looks_like_hub_id(flag):
        raise UserInputError(f"{FLAG} {flag!r} is not a hub id; pass it as OWNER/NAME, e.g. HuggingFaceTB/SmolLM2-135M")
    given = _named(flag, FLAG)
    who = "checkpoint" if kind == "full" else "base"
    card = _named(facts.card_base_model, f"the {who}'s README base_model")
    config = _named(facts.config_name, f"the {who}'s config.json _name_or_path")
    cached = _named(facts.cache_repo_id, "the Hugging Face cache")
    if kind == "full":
        return Lineage(upstream=_first(given, card, config))
    if not quantized:
        found = _first(given, named, cached, config, card)
        return Lineage(base=found, upstream=found)
    trained_on = _first(named, cached)
    same = trained_on is not None and config is not None and config.id == trained_on.id  # names itself, not its upstream
    upstream = _first(given, card, None if same else config)
    notes: tuple[str, ...] = ()
    if upstream is None and trained_on is not None:
        upstream = trained_on
        notes = (f"the 16-bit model behind {trained_on.id} is not named (its card has no base_model); pass {FLAG} to name it",)
    return Lineage(base=_first(trained_on, upstream), upstream=upstream, trained_on=trained_on, notes=notes)


def require_base_id(lineage: Lineage, hub_formats: Iterable[str]) -> None:
    """A published adapter must name its base by hub id on the Hub: refuse (UserInputError) when `hub_formats`
    (the adapter formats going to hf:) is not empty and no id was found."""
    formats = sorted(hub_formats)
    if formats and lineage.base is None:
        raise UserInputError(
            f"{', '.join(formats)} to hf: must name its base model's hub id, and none was found (the base is not in the"
            f" Hugging Face cache, and its README and config name no hub id); pass {FLAG} OWNER/NAME"
        )
