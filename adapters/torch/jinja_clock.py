"""A Jinja `strftime_now` that answers a chosen clock: date markers, or the dates of a fixed day.

transformers makes `strftime_now` a global of its (cached) Jinja environment, reading the real time,
and passes no callable into a template. A macro of that name defined in front of the template shadows
it for that render only, with nothing global changed: it returns the marker of its format
(domain.chat_dates), or the format with every directive replaced by that day's value. The macro is one
line ended by a block tag, whose newline trim_blocks removes, so the template keeps its own first line
(one line later: syntax errors are reported with `PREFIX_LINES` subtracted).
"""

from __future__ import annotations

import string

from hubship.domain.chat_dates import Clock, strftime

PREFIX_LINES = 1
_LETTERS = string.ascii_letters


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _directives(clock: Clock) -> list[tuple[str, str]]:
    assert clock.day is not None
    pairs = []
    for directive in ["%-d", "%-m", *(f"%{c}" for c in _LETTERS)]:
        try:
            value = strftime(clock.day, directive)
        except ValueError:
            continue
        if value != directive:
            pairs.append((directive, value))
    return pairs


def clock_prefix(clock: Clock | None) -> str:
    """Jinja text to put in front of a template so that `strftime_now` answers `clock` ("" for the real time)."""
    if clock is None:
        return ""
    if clock.day is None:
        body = '{{ "HUBSHIPDATE[" ~ format ~ "]X" }}'
    else:
        chain = "".join(f"|replace({_quoted(d)}, {_quoted(v)})" for d, v in _directives(clock))
        body = '{{ format|replace("%%", "\\x00")' + chain + '|replace("\\x00", "%") }}'
    return "{% macro strftime_now(format) %}" + body + "{% endmacro %}\n"
