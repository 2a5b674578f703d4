"""Dates in chat templates: `strftime_now(format)` rendered as Ollama renders dates, from `currentDate`.

Templates such as Llama-3.2's call `strftime_now("%d %b %Y")`. Rendered once at publish time, that
date would be frozen into the Ollama TEMPLATE. Instead the probes render with a *marker clock*: each
call returns `date_marker(format)`, which the learned glue keeps, and the Go template writes the date
from Ollama's `currentDate` (YYYY-MM-DD, the server's local day; Ollama 0.11.1 and later), building
the other common formats from it with text/template built-ins (`slice`, `eq`). A format with parts
that cannot be built that way (weekday, time of day, ...) is refused, or frozen at the publish day when
the user allows it. The proof renders both templates on two fixed days (`CHECK_DAYS`), so a frozen
or wrong date cannot pass.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import attrs

DATE_MARKER = re.compile(r"HUBSHIPDATE\[(.*?)\]X")
CHECK_DAYS = (datetime.date(2031, 1, 5), datetime.date(2032, 11, 23))
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_DIRECTIVE = re.compile(r"%-?[A-Za-z%]")


@attrs.frozen
class Clock:
    """What `strftime_now` answers while a template renders: markers (`day` None) or the dates of `day`."""

    day: datetime.date | None = None


MARKERS = Clock()


def date_marker(fmt: str) -> str:
    """What `strftime_now(fmt)` returns under the marker clock."""
    return f"HUBSHIPDATE[{fmt}]X"


def strftime(day: datetime.date, fmt: str) -> str:
    """`fmt` for `day`, as Python's strftime in the C locale, with glibc's `%-d`/`%-m` (no padding)."""
    return _DIRECTIVE.sub(lambda m: _directive(day, m.group(0)), fmt)


def _directive(day: datetime.date, directive: str) -> str:
    if directive == "%-d":
        return str(day.day)
    if directive == "%-m":
        return str(day.month)
    if directive in ("%b", "%B"):
        name = MONTHS[day.month - 1]
        return name[:3] if directive == "%b" else name
    return day.strftime(directive)


_OPERANDS = {
    "%Y": "(slice $today 0 4)",
    "%y": "(slice $today 2 4)",
    "%m": "(slice $today 5 7)",
    "%d": "(slice $today 8 10)",
    "%F": "$today",
    "%B": "$month",
    "%b": "(slice $month 0 3)",
    "%h": "(slice $month 0 3)",
    "%-d": "$dayNoPad",
    "%e": "$daySpace",
    "%-m": "$monthNoPad",
}
_HELPERS = {
    "$month": '{{- $month := "" }}'
    + "".join(
        f'{{{{ {"if" if i == 0 else "else if"} eq (slice $today 5 7) "{i + 1:02d}" }}}}{{{{ $month = "{name}" }}}}'
        for i, name in enumerate(MONTHS)
    )
    + "{{ end }}",
    "$dayNoPad": '{{- $dayNoPad := slice $today 8 10 }}{{ if eq (slice $today 8 9) "0" }}{{ $dayNoPad = slice $today 9 10 }}{{ end }}',
    "$daySpace": "{{- $daySpace := slice $today 8 10 }}"
    + '{{ if eq (slice $today 8 9) "0" }}{{ $daySpace = print " " (slice $today 9 10) }}{{ end }}',
    "$monthNoPad": '{{- $monthNoPad := slice $today 5 7 }}{{ if eq (slice $today 5 6) "0" }}{{ $monthNoPad = slice $today 6 7 }}{{ end }}',
}


def go_date(fmt: str, literal: Callable[[str], str]) -> str | None:
    """A Go `print` pipeline giving `strftime_now(fmt)` from `$today` and the helper variables (go_date_head),
    literal text quoted by `literal`; None when a directive (weekday, time of day, ...) cannot be built from
    the date alone."""
    args, cursor = [], 0
    for match in _DIRECTIVE.finditer(fmt):
        if fmt[cursor : match.start()]:
            args.append(literal(fmt[cursor : match.start()]))
        directive = match.group(0)
        if directive == "%%":
            args.append(literal("%"))
        elif directive in _OPERANDS:
            args.append(_OPERANDS[directive])
        else:
            return None
        cursor = match.end()
    if fmt[cursor:]:
        args.append(literal(fmt[cursor:]))
    return "print " + " ".join(args) if args else '""'


def go_date_head(formats: tuple[str, ...], literal: Callable[[str], str]) -> list[str]:
    """The Go lines that set `$today` from Ollama's `currentDate`, the helpers the formats use, and `$date<N>`
    for the N-th format Go can build."""
    built = {f: go_date(f, literal) for f in formats}
    used = " ".join(b for b in built.values() if b)
    lines = ["{{- $today := currentDate }}", *(line for name, line in _HELPERS.items() if name in used)]
    lines += [f"{{{{- $date{n} := {b} }}}}" for n, b in enumerate(built.values()) if b]
    return lines


def date_formats(texts: list[str]) -> tuple[str, ...]:
    """Every strftime format whose marker appears in `texts`, in order of first appearance."""
    return tuple(dict.fromkeys(m.group(1) for t in texts for m in DATE_MARKER.finditer(t)))


def inexpressible(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The formats Go cannot build from `currentDate`."""
    return tuple(f for f in formats if go_date(f, repr) is None)
