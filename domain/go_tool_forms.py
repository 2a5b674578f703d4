"""The Go writers of the named tool forms (tool_forms): Go text writing the tool `$t` as the form's model does.

`hermes`: the Python signature and `Args:` lines range over `.Function.Parameters.Properties` (a Go map: names come
out sorted, as the keys of call arguments do), each type through PYTYPE; the parameters by the `tojson` writer.
A type name the macro does not know makes it recurse without end (a string is iterable), so the Go text fails there
too. Jinja's `| trim` of a parameter's description has no Go counterpart: a description with leading or trailing
whitespace is written as it is (the notes say so).

`functionary`: the name and description through text/template's `html` (Go's HTMLEscapeString escapes exactly
markupsafe's five characters, with the same entities; it also turns NUL into U+FFFD, which JSON text never holds
raw), then the function's JSON written as for `tojson` with every piece it prints passed through `html`
(html_escaped: literals, `printf "%q"` strings, and the JSON writer swapped for its escaped twin).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hubship.domain.go_json import JSON, JSON_DEFINE
from hubship.domain.go_template import NESTED, fail, go_string
from hubship.domain.go_typescript_tools import TYPESCRIPT_WRITERS
from hubship.domain.tool_forms import PY_TYPES

PYTYPE = "hubship-pytype"
UNKNOWN_TYPE = "hubship: this model's chat template fails on a tool parameter whose type is not a JSON Schema type it knows"
_PYTYPE1 = "hubship-pytype1"


def _lit(text: str) -> str:
    return "{{ " + go_string(text) + " }}"


def pytype_defines() -> str:
    """The templates writing a property's `.Type` (a list of JSON type names) as the Hermes macro does."""
    branches = "".join(
        f"{{{{- {'if' if n == 0 else 'else if'} eq . {go_string(k)} }}}}{_lit(v)}" for n, (k, v) in enumerate(PY_TYPES.items())
    )
    one = f'{{{{- define "{_PYTYPE1}" }}}}{branches}{{{{- else }}}}{fail(UNKNOWN_TYPE)}{{{{- end }}}}{{{{- end }}}}'
    many = (
        f'{{{{- define "{PYTYPE}" }}}}{{{{- if eq (len .) 1 }}}}{{{{ template "{_PYTYPE1}" (index . 0) }}}}'
        f"{{{{- else }}}}{_lit('Union[')}{{{{ range $k, $x := . }}}}{{{{ if $k }}}}{_lit(',')}{{{{ end }}}}"
        f'{{{{ template "{_PYTYPE1}" $x }}}}{{{{ end }}}}{_lit("]")}{{{{- end }}}}{{{{- end }}}}'
    )
    return one + "\n" + many


def hermes_writer(parameters: Callable[[int], str], function: Callable[[int], str]) -> str:
    """Go text writing the tool `$t` as tool_forms.hermes does; `parameters` writes `tojson` of its parameters."""
    props = "$t.Function.Parameters.Properties"
    pytype = f'{{{{ template "{PYTYPE}" $p.Type }}}}'
    signature = (
        f"{{{{ $hsFirst := true }}}}{{{{ range $n, $p := {props} }}}}{{{{ if not $hsFirst }}}}{_lit(', ')}{{{{ end }}}}"
        f"{{{{ $hsFirst = false }}}}{{{{ $n }}}}{_lit(': ')}{pytype}{{{{ end }}}}"
    )
    args = (
        f"{{{{ if {props} }}}}{_lit('    Args:' + chr(10))}{{{{ range $n, $p := {props} }}}}{_lit('        ')}{{{{ $n }}}}"
        f"{_lit('(')}{pytype}{_lit('): ')}{{{{ $p.Description }}}}{{{{ end }}}}{{{{ end }}}}"
    )
    return (
        _lit('{"type": "function", "function": {"name": "')
        + "{{ $t.Function.Name }}"
        + _lit('", "description": "')
        + "{{ $t.Function.Name }}"
        + _lit("(")
        + signature
        + _lit(") - ")
        + "{{ $t.Function.Description }}"
        + _lit("\n\n")
        + args
        + _lit('", "parameters": ')
        + f"{{{{ if {props} }}}}{parameters(0)}{{{{ else }}}}{_lit('{}')}{{{{ end }}}}"
        + _lit("}")
    )


JSON_HTML = JSON + "-html"
_LITERAL = re.compile(r'\{\{(-?) ("(?:[^"\\]|\\.)*") \}\}')
_QUOTED = re.compile(r'\{\{ printf "%q" ([^{}]+?) \}\}')
_ACTION = re.compile(r"\{\{-? *(.*?) *-?\}\}", re.S)
_SILENT = ("if ", "else", "end", "range ", "define ", "template ", "html ", "json ")


def html_escaped(go_text: str) -> str:
    """`go_text` (a JSON writer of go_tools/go_json) with everything it prints passed through `html`."""
    out = _LITERAL.sub(r"{{\1 html \2 }}", go_text)
    out = _QUOTED.sub(r'{{ html (printf "%q" \1) }}', out)
    out = out.replace(f'template "{JSON}" ', f'template "{JSON_HTML}" ').replace(f'define "{JSON}" ', f'define "{JSON_HTML}" ')
    left = [a for a in _ACTION.findall(out) if not a.startswith(_SILENT) and not re.match(r"\$\w+ :?= ", a)]
    if left:
        raise ValueError(f"html_escaped: unescaped actions {left}")
    return out


def functionary_writer(parameters: Callable[[int], str], function: Callable[[int], str]) -> str:
    """Go text writing the tool `$t` as tool_forms.functionary does."""
    head = _lit("Use the function '") + "{{ html $t.Function.Name }}" + _lit("' to '") + "{{ html $t.Function.Description }}"
    return head + _lit("'\n") + html_escaped(function(0))


_NIL = "[]string(nil)"


def _element(key: str, expr: str) -> str:
    """`<key>` the JSON of `expr` `</key>` on a line of its own, where `expr` is set."""
    return f'{{{{ if {expr} }}}}{_lit(chr(10) + "<" + key + ">")}{{{{ template "{JSON}" {expr} }}}}{_lit("</" + key + ">")}{{{{ end }}}}'


def _required(expr: str) -> str:
    """`<required>` where the list was given, even empty (Go tells a missing list, nil, from an empty one)."""
    given = f'{{{{ if ne (printf "%#v" {expr}) "{_NIL}" }}}}'
    return given + _lit("\n<required>") + f'{{{{ template "{JSON}" {expr} }}}}' + _lit("</required>") + "{{ end }}"


def xml_writer(parameters: Callable[[int], str], function: Callable[[int], str]) -> str:
    """Go text writing the tool `$t` as tool_forms.xml does: a property's other keys in sorted order (Ollama's map has lost
    the caller's), those Ollama keeps and the template can be matched on; anyOf, nested properties, `$defs` and `items` of
    the parameters fail with NESTED."""
    ptype = (
        "{{ if eq (len $p.Type) 1 }}{{ index $p.Type 0 }}{{ else }}"
        + _lit("[")
        + "{{ range $k, $x := $p.Type }}{{ if $k }}"
        + _lit(", ")
        + "{{ end }}"
        + _lit("'")
        + "{{ $x }}"
        + _lit("'")
        + "{{ end }}"
        + _lit("]")
        + "{{ end }}"
    )
    nested = "{{ if or $p.AnyOf $p.Properties }}" + fail(NESTED) + "{{ end }}"
    param = (
        _lit("\n<parameter>\n<name>")
        + "{{ $n }}"
        + _lit("</name>")
        + "{{ if $p.Type }}"
        + _lit("\n<type>")
        + ptype
        + _lit("</type>")
        + "{{ end }}{{ if $p.Description }}"
        + _lit("\n<description>")
        + "{{ $p.Description }}"
        + _lit("</description>")
        + "{{ end }}"
        + nested
        + _element("enum", "$p.Enum")
        + _element("items", "$p.Items")
        + _required("$p.Required")
        + _lit("\n</parameter>")
    )
    params = "$t.Function.Parameters"
    return (
        _lit("<function>\n<name>")
        + "{{ $t.Function.Name }}"
        + _lit("</name>")
        + "{{ if $t.Function.Description }}"
        + _lit("\n<description>")
        + "{{ $t.Function.Description }}"
        + _lit("</description>")
        + "{{ end }}"
        + _lit("\n<parameters>")
        + f"{{{{ range $n, $p := {params}.Properties }}}}{param}{{{{ end }}}}"
        + f"{{{{ if or {params}.Defs {params}.Items }}}}{fail(NESTED)}{{{{ end }}}}"
        + _required(f"{params}.Required")
        + _lit("\n</parameters>\n</function>")
    )


WRITERS: dict[str, Callable[[Callable[[int], str], Callable[[int], str]], str]] = {
    "hermes": hermes_writer,
    "functionary": functionary_writer,
    "xml": xml_writer,
    **TYPESCRIPT_WRITERS,
}
DEFINES: dict[str, Callable[[], str]] = {"hermes": pytype_defines, "functionary": lambda: html_escaped(JSON_DEFINE)}
