"""Write a ChatStructure as a Go text/template over Ollama's `.Messages` (each with `.Role` and `.Content`).

Every literal is emitted as a quoted Go string inside an action, so the layout whitespace between
actions can be trimmed freely (`{{-`/`-}}`) without touching a byte of the prompt. A conversation the
model's template rejects makes the Go template fail too: `{{ template "<message>" }}` names a template
that does not exist, which text/template reports at execution time with the message in it.
"""

from __future__ import annotations

from hubship.domain.chat_template import KINDS, SYSTEM0, ChatStructure

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


def _text(text: str) -> str:
    return "{{ " + go_string(text) + " }}" if text else ""


def _fail(message: str) -> str:
    return "{{ template " + go_string(message) + " }}"


def _kind_switch(variable: str, texts: dict[str, str]) -> list[str]:
    """`if eq $var "k1" }}text1{{ else if ... }}` over the kinds with non-empty text."""
    branches = [(k, t) for k, t in texts.items() if t]
    if not branches:
        return []
    parts = []
    for n, (kind, text) in enumerate(branches):
        parts.append(("{{- if " if n == 0 else "{{- else if ") + f'eq {variable} "{kind}" }}}}{_text(text)}')
    return [*parts, "{{- end }}"]


def _checks(s: ChatStructure) -> list[str]:
    rules = {r.name: r.message for r in s.rules}
    lines = ['{{- if not (eq $m.Role "system" "user" "assistant") }}' + _fail(UNKNOWN_ROLE) + "{{ end }}"]
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


def _glue(s: ChatStructure) -> list[str]:
    lines = ['{{- if eq $prev "" }}']
    lines += _kind_switch("$kind", dict(s.lead)) or ["{{- /* no text before the first message */ -}}"]
    for (prev, kind), text in sorted(s.between.items(), key=lambda kv: (KINDS.index(kv[0][0]), KINDS.index(kv[0][1]))):
        if text:
            lines.append(f'{{{{- else if and (eq $prev "{prev}") (eq $kind "{kind}") }}}}{_text(text)}')
    lines.append("{{- end }}")
    return lines


def emit_go_template(s: ChatStructure) -> str:
    """The Go text/template that renders Ollama's messages exactly as the learned structure says."""
    head = [
        "{{- /* Derived by hubship from this model's Jinja chat template and checked against it. */ -}}",
        '{{- $prev := "" }}',
    ]
    if any(r.name == "alternate" for r in s.rules):
        head.append('{{- $want := "user" }}')
    if any(r.name == "first_user" for r in s.rules):
        head.append("{{- $spoke := false }}")
    body = [
        "{{- range $i, $m := .Messages }}",
        "{{- $kind := $m.Role }}",
        f'{{{{- if and (eq $i 0) (eq $m.Role "system") }}}}{{{{ $kind = "{SYSTEM0}" }}}}{{{{ end }}}}',
        *_checks(s),
    ]
    shown = [k for k in KINDS if k not in s.hidden]
    body.append("{{- if eq $kind " + " ".join(f'"{k}"' for k in shown) + " }}")
    body += _glue(s)
    body += ["{{- $m.Content }}", "{{- $prev = $kind }}", "{{- end }}", "{{- end }}"]
    tail = _kind_switch("$prev", {k: v for k, v in s.tail.items() if k != "assistant"})
    return "\n".join([*head, *body, *tail])
