"""The Go writers of the TypeScript tool forms (tool_forms: `typescript`, GigaChat's; `harmony`, gpt-oss's; `apertus`):
Go text writing the tool `$t` as each form's model does.

Properties come out sorted (Ollama's map), as the proof's Jinja side has them. A type is chosen by an if / else-if
chain on `$p.Type` (Ollama's list of type names): a list of several, an object (failing with NESTED where it has
properties), a string or number enum, the scalar names, an array (its items' scalar type, or the form's word for an
array without items). Go's templates cannot split a string, so a description of several lines is written on one
comment line where GigaChat writes a comment per line (the notes' known difference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hubship.domain.go_template import NESTED, fail, go_string
from hubship.domain.tool_forms import TS_SCALARS

_SCALARS = tuple(TS_SCALARS.items())
_ONE = "(index $p.Type 0)"
_REQUIRED = "{{ $req := false }}{{ range $r := $t.Function.Parameters.Required }}{{ if eq $r $n }}{{ $req = true }}{{ end }}{{ end }}"
_PROPS = "$t.Function.Parameters.Properties"
Writer = Callable[[Callable[[int], str], Callable[[int], str]], str]


def _lit(text: str) -> str:
    return "{{ " + go_string(text) + " }}" if text else ""


def _chain(branches: Sequence[tuple[str, str]], otherwise: str) -> str:
    """A Go if / else-if chain: each (condition, text) in order, then `otherwise`."""
    out = "".join(f"{{{{ {'if' if n == 0 else 'else if'} {condition} }}}}{text}" for n, (condition, text) in enumerate(branches))
    return out + "{{ else }}" + otherwise + "{{ end }}"


def _enum(quoted: bool) -> str:
    item = _lit('"') + "{{ $e }}" + _lit('"') if quoted else "{{ $e }}"
    return "{{ range $k, $e := $p.Enum }}{{ if $k }}" + _lit(" | ") + "{{ end }}" + item + "{{ end }}"


def _items(enum_fails: bool) -> str:
    """`TYPE[]` of an array's items of a scalar type; GigaChat writes items with an enum as their union (`enum_fails`)."""
    kind = '(index $p.Items "type")'
    branches = [(f"eq {kind} {go_string(k)}", _lit(v + "[]")) for k, v in _SCALARS]
    enum = [('index $p.Items "enum"', fail(NESTED))] if enum_fails else []
    return _chain(enum + branches, fail(NESTED))


def _type(several: str, empty_object: str, number_enum: bool, no_items: str) -> str:
    """A property's type as the form writes it."""
    branches = [
        ("ne (len $p.Type) 1", several),
        (f'eq {_ONE} "object"', "{{ if or $p.Properties $p.AnyOf }}" + fail(NESTED) + "{{ end }}" + _lit(empty_object)),
        (f'and (eq {_ONE} "string") $p.Enum', _enum(True)),
        *([(f'and (eq {_ONE} "number" "integer") $p.Enum', _enum(False))] if number_enum else []),
        *[(f"eq {_ONE} {go_string(k)}", _lit(v)) for k, v in _SCALARS],
        (f'eq {_ONE} "array"', "{{ if $p.Items }}" + _items(enum_fails=number_enum) + "{{ else }}" + _lit(no_items) + "{{ end }}"),
    ]
    return _chain(branches, _lit("any"))


def typescript_writer(parameters: Callable[[int], str], function: Callable[[int], str]) -> str:
    """tool_forms.typescript (GigaChat): `  // description`, `  name?: TYPE,` per property, two spaces in."""
    kind = _type(_lit("any"), "{\n  }", number_enum=True, no_items="Array<any>")
    prop = "{{ if $p.Description }}" + _lit("  // ") + "{{ $p.Description }}" + _lit("\n") + "{{ end }}" + _REQUIRED
    prop += _lit("  ") + "{{ $n }}{{ if not $req }}" + _lit("?") + "{{ end }}" + _lit(": ") + kind + _lit(",\n")
    head = "{{ if $t.Function.Description }}" + _lit("// ") + "{{ $t.Function.Description }}" + _lit("\n") + "{{ end }}"
    body = f"{{{{ if {_PROPS} }}}}" + _lit("(_: {\n") + f"{{{{ range $n, $p := {_PROPS} }}}}" + prop + "{{ end }}" + _lit("})")
    return (
        head + _lit("type ") + "{{ $t.Function.Name }}" + _lit(" = ") + body + "{{ else }}" + _lit("()") + "{{ end }}" + _lit(" => any;\n")
    )


def _harmony_writer(last_comma: bool) -> Writer:
    """tool_forms.harmony (`last_comma`: gpt-oss) or tool_forms.apertus: `// description`, `name?: TYPE`, no indent."""
    several = "{{ range $k, $x := $p.Type }}{{ if $k }}" + _lit(" | ") + "{{ end }}{{ $x }}{{ end }}"
    kind = _type(several, "object", number_enum=False, no_items="any[]")

    def write(parameters: Callable[[int], str], function: Callable[[int], str]) -> str:
        prop = "{{ if not $first }}" + _lit(",\n") + "{{ end }}{{ $first = false }}"
        prop += "{{ if $p.Description }}" + _lit("// ") + "{{ $p.Description }}" + _lit("\n") + "{{ end }}" + _REQUIRED
        prop += "{{ $n }}{{ if not $req }}" + _lit("?") + "{{ end }}" + _lit(": ") + kind
        each = f"{{{{ $first := true }}}}{{{{ range $n, $p := {_PROPS} }}}}" + prop + "{{ end }}"
        body = f"{{{{ if {_PROPS} }}}}" + _lit("(_: {\n") + each + _lit((",\n" if last_comma else "\n") + "})")
        head = _lit("// ") + "{{ $t.Function.Description }}" + _lit("\ntype ") + "{{ $t.Function.Name }}" + _lit(" = ")
        return head + body + "{{ else }}" + _lit("()") + "{{ end }}" + _lit(" => any;")

    return write


TYPESCRIPT_WRITERS: dict[str, Writer] = {
    "typescript": typescript_writer,
    "harmony": _harmony_writer(last_comma=True),
    "apertus": _harmony_writer(last_comma=False),
}
