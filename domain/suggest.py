"""The closest known spelling of a mistyped name ("did you mean ...?"), for one-line error messages."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_PUNCTUATION = re.compile(r"[^a-z0-9]+")


def _squashed(text: str) -> str:
    return _PUNCTUATION.sub("", text.lower())


def closest(value: str, choices: Iterable[str], cutoff: float = 0.8) -> str | None:
    """The choice `value` most likely meant: the one equal to it once case and punctuation are dropped
    (`gguf-q4km` -> `gguf-q4_k_m`), else one with the same letters swapped (`stf` -> `sft`), else the nearest
    by difflib's ratio above `cutoff`; None when none is close."""
    options = list(dict.fromkeys(choices))
    squashed = _squashed(value)
    for same in (_squashed, lambda text: sorted(_squashed(text))):
        for choice in options:
            if squashed and same(choice) == same(value):
                return choice
    close = difflib.get_close_matches(value.lower(), options, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(value: str, choices: Iterable[str], fallback: str = "") -> str:
    """`did you mean 'X'?` for the closest choice, else `fallback` (e.g. the list of valid values)."""
    match = closest(value, choices)
    return f"did you mean {match!r}?" if match is not None else fallback
