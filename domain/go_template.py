"""Write a ChatStructure as a Go text/template over Ollama's `.Messages` (each with `.Role` and `.Content`).

Every literal is emitted as a quoted Go string inside an action, so the layout whitespace between
actions can be trimmed freely (`{{-`/`-}}`) without touching a byte of the prompt. A conversation the
model's template rejects makes the Go template fail too: `{{ template "<message>" . }}` calls a template
that does not exist, which text/template reports at execution time with the message in it
(`template "<message>" not defined`). The call carries a pipeline (`.`): Ollama's `template.Parse`
refuses a template call without one since 0.12.4 ("undefined template specified", template/template.go,
Identifiers), so `ollama create` would refuse the whole TEMPLATE.

Glue that depends on the position is chosen by comparisons: `$last` (the message is the last one:
`len (slice $.Messages $i)` is 1) and `$sys` (the conversation opens with a system message). A floating
system message is kept in `$system` and written where its glue says; dates are written from Ollama's
`currentDate` (chat_dates), or frozen at a given day when the format cannot be built from it.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

import attrs

from hubship.domain.chat_dates import DATE_MARKER, go_date_head, inexpressible, strftime
from hubship.domain.chat_template import KINDS, SYSTEM0, SYSTEM_SLOT, ChatStructure, GlueKey, TemplateNotDerivable

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
UNKNOWN_ROLE = "hubship: this Ollama template knows only system, user and assistant messages (tool calling is not supported)"


def go_string(text: str) -> str:
    """A Go interpreted string literal for `text` (UTF-8 kept as is, control characters escaped)."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _literal(text: str) -> str:
    return "{{ " + go_string(text) + " }}" if text else ""


@attrs.frozen(kw_only=True)
class Extension:
    """What a structure with more message kinds than KINDS needs from the emitter (go_tools): `kinds` the extra kinds
    in order; `classify` Go actions after `$kind := $m.Role` that may change `$kind`; `checks` the per-message checks
    (replacing the role check); `contents` Go text printing a message of a kind (default: its content); `slots` Go text
    for a marker inside glue strings; `head` actions before the message loop (each once); `after` actions ending each
    message's turn of the loop; `tails` the generation prompts chosen by
    a Go condition each (the last one's condition "": otherwise), replacing the structure's own."""

    kinds: tuple[str, ...] = ()
    classify: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    contents: Mapping[str, str] = attrs.field(factory=dict)
    slots: Mapping[str, str] = attrs.field(factory=dict)
    head: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    tails: tuple[tuple[str, Mapping[GlueKey, str]], ...] = ()

    def __add__(self, other: Extension) -> Extension:
        return Extension(
            kinds=(*self.kinds, *other.kinds),
            classify=(*self.classify, *other.classify),
            checks=(*self.checks, *other.checks),
            contents={**self.contents, **other.contents},
            slots={**self.slots, **other.slots},
            head=tuple(dict.fromkeys((*self.head, *other.head))),
            after=(*self.after, *other.after),
            tails=other.tails or self.tails,
        )


PLAIN = Extension()
LAST_USER_HEAD = (
    "{{- $lastUser := -1 }}",
    '{{- range $j, $u := .Messages }}{{ if eq $u.Role "user" }}{{ $lastUser = $j }}{{ end }}{{ end }}',
)
"""Actions setting `$lastUser`, the index of the last user message (-1: none)."""
_LAST = "{{- $last := eq (len (slice $.Messages $i)) 1 }}"
_LAST_LATER = '{{- $last := or (eq (len (slice $.Messages $i)) 1) (and (gt $i $lastUser) (eq $m.Role "assistant")) }}'
"""`$last` with ChatStructure.later: also an assistant message after the last user message."""
_PIECES = re.compile(f"({DATE_MARKER.pattern}|{re.escape(SYSTEM_SLOT)}|\x00HUBSHIP[A-Z]+\x00)")


def _text(text: str, s: ChatStructure, frozen: datetime.date | None = None, ext: Extension = PLAIN) -> str:
    """Go actions printing a glue string: its literal parts quoted, the floating system message, the dates."""
    out, cursor = [], 0
    for match in _PIECES.finditer(text):
        out.append(_literal(text[cursor : match.start()]))
        if match.group(0) == SYSTEM_SLOT:
            out.append("{{ $system }}")
        elif match.group(0) in ext.slots:
            out.append(ext.slots[match.group(0)])
        else:
            out.append(_date(match.group(2), s, frozen))
        cursor = match.end()
    out.append(_literal(text[cursor:]))
    return "".join(out)


def _date(fmt: str, s: ChatStructure, frozen: datetime.date | None) -> str:
    built = [f for f in s.dates if f not in inexpressible(s.dates)]
    if fmt in built:
        return f"{{{{ $date{built.index(fmt)} }}}}"
    if frozen is None:
        raise TemplateNotDerivable(
            f"the template writes the date as {fmt!r}, which Ollama's template cannot build from currentDate"
            " (pass --allow-frozen-date to freeze it at the publish day)"
        )
    return _literal(strftime(frozen, fmt))


NESTED = "hubship: this model's TEMPLATE cannot write a tool parameter with anyOf, nested properties, $defs or items"
"""Where a named tool form's Go writer meets a parameter its template writes in a way no Go text here gives."""


def fail(message: str) -> str:
    """Go text that makes the template's execution fail with `message`."""
    return _fail(message)


def _fail(message: str) -> str:
    """An action that stops the render with `message`: a call, with a pipeline, of a template never defined."""
    return "{{ template " + go_string(message) + " . }}"


def _checks(s: ChatStructure, ext: Extension = PLAIN) -> list[str]:
    rules = {r.name: r.message for r in s.rules}
    lines = list(ext.checks) or ['{{- if not (eq $m.Role "system" "user" "assistant") }}' + _fail(UNKNOWN_ROLE) + "{{ end }}"]
    if "no_leading_system" in rules:
        lines.append(f'{{{{- if eq $kind "{SYSTEM0}" }}}}{_fail(rules["no_leading_system"])}{{{{ end }}}}')
    if "no_later_system" in rules:
        lines.append(f'{{{{- if eq $kind "system" }}}}{_fail(rules["no_later_system"])}{{{{ end }}}}')
    if "alternate" in rules:
        lines += [
            '{{- if ne $m.Role "system" }}',
            "{{- if ne $m.Role $want }}" + _fail(rules["alternate"]) + "{{ end }}",
            '{{- if eq $want "user" }}{{ $want = "assistant" }}{{ else }}{{ $want = "user" }}{{ end }}',
            "{{- end }}",
        ]
    if "first_user" in rules:
        lines += [
            '{{- if and (not $spoke) (ne $m.Role "system") }}',
            '{{- if ne $m.Role "user" }}' + _fail(rules["first_user"]) + "{{ end }}",
            "{{- $spoke = true }}",
            "{{- end }}",
        ]
    return lines


def _conditions(key: GlueKey, *, tail: bool) -> str:
    prev, kind, last, system = key
    parts = [f'(eq $prev "{prev}")'] + ([] if tail else [f'(eq $kind "{kind}")'])
    if last is not None and not tail:
        parts.append("$last" if last else "(not $last)")
    if system is not None:
        parts.append("$sys" if system else "(not $sys)")
    return "and " + " ".join(parts)


def _order(key: GlueKey, ext: Extension = PLAIN) -> tuple:
    prev, kind, last, system = key
    kinds = (*KINDS, *ext.kinds)
    return (kinds.index(prev) if prev else -1, kinds.index(kind) if kind else -1, bool(last), bool(system))


def _compact(entries: list[tuple[GlueKey, str]]) -> list[tuple[GlueKey, str]]:
    """The entries, with the position features dropped from each (prev, kind) whose texts are all equal."""
    groups: dict[tuple[str, str], list[tuple[GlueKey, str]]] = {}
    for key, text in entries:
        groups.setdefault(key[:2], []).append((key, text))
    out = []
    for (prev, kind), members in groups.items():
        texts = {t for _, t in members}
        out += [((prev, kind, None, None), texts.pop())] if len(texts) == 1 else members
    return out


def _chain(
    entries: list[tuple[GlueKey, str]], s: ChatStructure, *, tail: bool, frozen: datetime.date | None, ext: Extension = PLAIN
) -> list[str]:
    """`if <key> }}text{{ else if ... }}` over the keys with non-empty text (keys never overlap)."""
    branches = [(k, t) for k, t in sorted(_compact(entries), key=lambda kv: _order(kv[0], ext)) if t]
    if not branches:
        return []
    lines = []
    for n, (key, text) in enumerate(branches):
        lines.append(("{{- if " if n == 0 else "{{- else if ") + _conditions(key, tail=tail) + " }}" + _text(text, s, frozen, ext))
    return [*lines, "{{- end }}"]


def emit_go_template(s: ChatStructure, frozen: datetime.date | None = None, ext: Extension = PLAIN) -> str:
    """The Go text/template that renders Ollama's messages exactly as the learned structure says; a date
    format Go cannot build is frozen at `frozen` (None: raise TemplateNotDerivable, one line). `ext` adds kinds."""
    head = [
        "{{- /* Derived by hubship from this model's Jinja chat template and checked against it. */ -}}",
        '{{- $prev := "" }}',
    ]
    if s.dates:
        head += go_date_head(tuple(f for f in s.dates if f not in inexpressible(s.dates)), go_string)
    if "system" in s.features:
        head.append("{{- $sys := false }}")
    if s.floating_system:
        head.append('{{- $system := "" }}')
    if any(r.name == "alternate" for r in s.rules):
        head.append('{{- $want := "user" }}')
    if any(r.name == "first_user" for r in s.rules):
        head.append("{{- $spoke := false }}")
    head += tuple(dict.fromkeys((*ext.head, *(LAST_USER_HEAD if s.later else ()))))
    first = [f'{{{{ $kind = "{SYSTEM0}" }}}}']
    if "system" in s.features:
        first.append("{{ $sys = true }}")
    if s.floating_system:
        first.append("{{ $system = $m.Content }}")
    body = [
        "{{- range $i, $m := .Messages }}",
        "{{- $kind := $m.Role }}",
        *ext.classify,
        '{{- if and (eq $i 0) (eq $m.Role "system") }}' + "".join(first) + "{{ end }}",
        *([_LAST_LATER if s.later else _LAST] if "last" in s.features else []),
        *_checks(s, ext),
    ]
    shown = [k for k in (*KINDS, *ext.kinds) if k not in s.hidden and not (s.floating_system and k == SYSTEM0)]
    body.append("{{- if eq $kind " + " ".join(f'"{k}"' for k in shown) + " }}")
    body += _chain([(k, t) for k, t in s.glue.items() if k[1]], s, tail=False, frozen=frozen, ext=ext)
    body += [*_contents(ext), "{{- $prev = $kind }}", "{{- end }}", *ext.after, "{{- end }}"]
    tail: list[str] = []
    for n, (condition, glue) in enumerate(ext.tails or (("", s.glue),)):
        if ext.tails:
            tail.append("{{- else }}" if not condition else ("{{- if " if n == 0 else "{{- else if ") + condition + " }}")
        tail += _chain(
            [(k, t) for k, t in glue.items() if not k[1] and k[0].rstrip("*") != "assistant"], s, tail=True, frozen=frozen, ext=ext
        )
    return "\n".join([*head, *body, *tail, *(["{{- end }}"] if ext.tails else [])])


def _contents(ext: Extension) -> list[str]:
    if not ext.contents:
        return ["{{- $m.Content }}"]
    by_text: dict[str, list[str]] = {}
    for kind, text in ext.contents.items():
        by_text.setdefault(text, []).append(f'"{kind}"')
    lines = [("{{- if " if n == 0 else "{{- else if ") + f"eq $kind {' '.join(k)} }}}}" + t for n, (t, k) in enumerate(by_text.items())]
    return [*lines, "{{- else }}{{ $m.Content }}", "{{- end }}"]
