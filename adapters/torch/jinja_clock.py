"""A Jinja `strftime_now` that answers a chosen clock: date markers, or the dates of a fixed day.

transformers makes `strftime_now` a global of its (cached) Jinja environment, reading the real time,
and passes no callable into a template. A macro of that name defined in front of the template (PREFIX)
shadows it for that render only, with nothing global changed: it returns the marker of its format
(domain.chat_dates) when the render variable `hubship_strftime` is none, else the format with each
directive replaced by the value that variable gives for it. The prefix is one constant text, so a
template is compiled once whatever the clock. It is one line ended by a block tag, whose newline
trim_blocks removes, so the template keeps its own first line (one line later: syntax errors are
reported with `PREFIX_LINES` subtracted).
"""

from __future__ import annotations

import string
from typing import Any

from hubship.domain.chat_dates import Clock, strftime

PREFIX_LINES = 1
PREFIX = (
    "{% macro strftime_now(format) %}"
    '{% if hubship_strftime is none %}{{ "HUBSHIPDATE[" ~ format ~ "]X" }}'
    '{% else %}{% set ns = namespace(text=format|replace("%%", "\\x00")) %}'
    "{% for pair in hubship_strftime %}{% set ns.text = ns.text|replace(pair[0], pair[1]) %}{% endfor %}"
    '{{ ns.text|replace("\\x00", "%") }}{% endif %}'
    "{% endmacro %}\n"
)


def _directives(clock: Clock) -> list[tuple[str, str]]:
    assert clock.day is not None
    pairs = []
    for directive in ["%-d", "%-m", *(f"%{c}" for c in string.ascii_letters)]:
        try:
            value = strftime(clock.day, directive)
        except ValueError:
            continue
        if value != directive:
            pairs.append((directive, value))
    return pairs


def clock_variables(clock: Clock) -> dict[str, Any]:
    """The render variable PREFIX reads: None for markers, else (directive, value) pairs of `clock.day`."""
    return {"hubship_strftime": None if clock.day is None else _directives(clock)}
