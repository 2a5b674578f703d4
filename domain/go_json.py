"""Go text/template that writes a JSON value (a Go map, list or scalar Ollama hands over) as Python's `json.dumps`
does: `", "` and `": "` on one line (JSON), or indented by `indent` spaces from a nesting level on (indented).

Strings with `printf "%q"` (Go's quoting equals JSON's for printable text), numbers, booleans and null with `json`,
objects and lists member by member (a Go map's keys come out sorted). Go's templates take one argument and cannot
count, so the indented writer is one template per nesting level, down to MAX_DEPTH levels; deeper values fail.
"""

from __future__ import annotations

from hubship.domain.go_template import fail, go_string

JSON = "hubship-json"
MAX_DEPTH = 12
TOO_DEEP = "hubship: a JSON value in a tool definition is nested too deeply for this TEMPLATE"
_SCALARS = '{{- if eq $t "string" }}{{ printf "%q" . }}{{- else if eq $t "float64" "bool" "<nil>" "int" }}{{ json . }}'
_LIST = '{{- else if eq $t "[]interface {}" "[]string" }}'
JSON_DEFINE = (
    f'{{{{- define "{JSON}" }}}}{{{{ $t := printf "%T" . }}}}{_SCALARS}'
    f'{_LIST}{{{{ "[" }}}}{{{{ range $k, $v := . }}}}{{{{ if $k }}}}{{{{ ", " }}}}{{{{ end }}}}'
    f'{{{{ template "{JSON}" $v }}}}{{{{ end }}}}{{{{ "]" }}}}'
    '{{- else }}{{ "{" }}{{ $first := true }}{{ range $k, $v := . }}{{ if not $first }}{{ ", " }}{{ end }}{{ $first = false }}'
    f'{{{{ printf "%q" $k }}}}{{{{ ": " }}}}{{{{ template "{JSON}" $v }}}}{{{{ end }}}}{{{{ "}}" }}}}'
    "{{- end }}{{- end }}"
)


def _name(indent: int, level: int) -> str:
    return f"{JSON}-{indent}-{level}"


def json_at(expr: str, indent: int | None, level: int) -> str:
    """Go text writing the JSON value `expr` at nesting `level` (`indent` None: on one line)."""
    if indent is None:
        return f'{{{{ template "{JSON}" {expr} }}}}'
    return f'{{{{ template "{_name(indent, level)}" {expr} }}}}' if level < MAX_DEPTH else fail(TOO_DEEP)


def _lit(text: str) -> str:
    return "{{ " + go_string(text) + " }}"


def indented_defines(indent: int) -> str:
    """The templates json_at calls for `indent`, one per nesting level."""
    out = []
    for level in range(MAX_DEPTH):
        inner, outer = "\n" + " " * indent * (level + 1), "\n" + " " * indent * level
        value = json_at("$v", indent, level + 1)
        out.append(
            f'{{{{- define "{_name(indent, level)}" }}}}{{{{ $t := printf "%T" . }}}}{_SCALARS}{_LIST}'
            f"{{{{ if . }}}}{_lit('[')}{{{{ range $k, $v := . }}}}{{{{ if $k }}}}{_lit(',')}{{{{ end }}}}{_lit(inner)}{value}"
            f"{{{{ end }}}}{_lit(outer + ']')}{{{{ else }}}}{_lit('[]')}{{{{ end }}}}"
            f"{{{{- else }}}}{{{{ if . }}}}{_lit('{')}{{{{ $first := true }}}}{{{{ range $k, $v := . }}}}"
            f"{{{{ if not $first }}}}{_lit(',')}{{{{ end }}}}{{{{ $first = false }}}}{_lit(inner)}"
            f'{{{{ printf "%q" $k }}}}{_lit(": ")}{value}'
            f"{{{{ end }}}}{_lit(outer + '}')}{{{{ else }}}}{_lit('{}')}{{{{ end }}}}{{{{- end }}}}{{{{- end }}}}"
        )
    return "\n".join(out)
