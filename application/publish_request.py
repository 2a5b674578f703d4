"""The request `plan` and `publish` share: which checkpoint, which formats, where to."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.domain.names import clean_name
from hubship.domain.training_method import method

DEFAULT_OPTIONS: Mapping[str, Any] = {
    "dtype": None,
    "max_shard_size": 5 * 1000**3,
}


@attrs.frozen(kw_only=True)
class PublishRequest:
    checkpoint: str
    formats: tuple[str, ...]
    destinations: tuple[str, ...] = ()
    base: str | None = None
    name: str | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)

    def option(self, key: str) -> Any:
        return self.options.get(key, DEFAULT_OPTIONS.get(key))

    def merged_options(self) -> dict[str, Any]:
        return {**DEFAULT_OPTIONS, **{k: v for k, v in self.options.items() if v is not None}}


def derived_name(checkpoint: str, training_method: str) -> str:
    """The publish name hubship derives from the checkpoint folder and the training method (`smol-sft`)."""
    return method(training_method).default_name(default_name(checkpoint))


def default_name(checkpoint: str) -> str:
    """A publish name from the checkpoint folder (its parent's for `checkpoint-500` style folders), cleaned into a valid one."""
    path = Path(checkpoint).resolve()
    stem = path.name
    if re.fullmatch(r"checkpoint[-_]?\d+|final|adapter|outputs?|trainer_output", stem, re.IGNORECASE) and path.parent.name:
        stem = path.parent.name
    return clean_name(stem)
