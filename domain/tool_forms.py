"""Tool definitions written other than by `tojson`: named forms, each a Python model of what the template writes,
recognised only when the model gives the template's exact text on a probe tool and on RICH (a tool with a property
of every kind Ollama keeps), and written in Go by go_tool_forms.

`hermes`: Hermes 2 Pro's and Hermes 3's tool-use templates (NousResearch) write each tool as a JSON-like line whose
description is a Python signature, `name(city: str, days: int) - description`, then `Args:` with one line per
parameter, then `tojson` of the parameters (`{}` when there are none). Python types as their `json_to_python_type`
macro gives them: str, float, int, bool, `list[Union[]]` for arrays (the macro is given the property's items as
pairs, not its `items`), dict, `Union[a,b]` for a list of types; any other name makes the macro recurse without end.

`functionary`: functionary v3.1 (MeetKai) writes `Use the function 'NAME' to 'DESCRIPTION'` then `tojson` of the
function on the next line, all but its own literals HTML-escaped: its literals are `|safe` (markupsafe's Markup), and
a Markup plus a str escapes the str (`&`, `<`, `>`, `'`, `"` as `&amp;`, `&lt;`, `&gt;`, `&#39;`, `&#34;`).

`typescript`: GigaChat 3 and 3.1 (Sber) write each tool as a TypeScript type: a `// line` per non-blank line of its
description, then `type NAME = (_: {` with, per property, its description's lines as comments, `  name?: TYPE,`
(two spaces a level, `?` unless required), `}) => any;` and a newline (`() => any;` without properties). TYPE as
their `json_schema_to_typescript` macro gives it: `string`, `"a" | "b"` for a string enum, `number` (integer too;
`1 | 2` for a numeric enum), `boolean`, `ITEMS[]` for an array (`Array<any>` without items), `{` the properties `}`
for an object, `any` for anything else (a list of types too). What Ollama's ToolProperty does not keep (`format`,
`default`, `additionalProperties`, JSON Schema's numeric bounds) the model leaves out: Ollama has dropped it.

`harmony` and `apertus`: gpt-oss's TypeScript types (its `render_typescript_type` macro), and Apertus's (the same
macro): `// DESCRIPTION`, `type NAME = (_: {`, per property its `// description` (when it has one) and `name?: TYPE`,
then `}) => any;` (`() => any;` without properties). gpt-oss ends every property with `,` and a newline, Apertus all
but the last (a newline only). TYPE: `string`, `number` (integer too), `boolean`, `object` (without properties),
`"a" | "b"` for a string enum, `string[]` (`number[]`, `boolean[]`) for an array of those, `any[]` without items,
`a | b` for a list of types, `any` for other names; nested properties and other items are written by the macro in
ways no Go text here writes (the Go writer fails on them).

`xml`: Qwen3-Coder (and templates made from it) write each tool as XML elements: `<function>`, `<name>`, `<description>`
(trimmed), `<parameters>` with one `<parameter>` per property (`<name>`, `<type>` as Python's `str` of the type,
`<description>`, then the property's other keys), then the parameters' other keys (`required`...); other keys are
written `<key>VALUE</key>`, VALUE `tojson` for objects and lists, Python's `str` otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from hubship.domain.chat_calls import tojson

PY_TYPES = {"string": "str", "number": "float", "integer": "int", "boolean": "bool", "array": "list[Union[]]", "object": "dict"}


def _property(kind: str, description: str, **more: object) -> dict[str, object]:
    return {"type": kind, "description": description, **more}


RICH = json.dumps(
    {
        "type": "function",
        "function": {
            "name": "hubshiprich",
            "description": "HUBSHIPRICHX",
            "parameters": {
                "type": "object",
                "properties": {
                    "hubshipa": _property("string", "HUBSHIPDESCA"),
                    "hubshipb": _property("integer", "HUBSHIPDESCB"),
                    "hubshipc": _property("number", "HUBSHIPDESCC"),
                    "hubshipd": _property("boolean", "HUBSHIPDESCD"),
                    "hubshipe": _property("array", "HUBSHIPDESCE", items={"type": "string"}),
                    "hubshipf": _property("object", "HUBSHIPDESCF"),
                    "hubshipg": _property("string", "HUBSHIPDESCG", enum=["x", "y"]),
                    "hubshiph": _property(["string", "integer"], "HUBSHIPDESCH"),  # type: ignore[arg-type]
                },
                "required": ["hubshipa"],
            },
        },
    }
)
"""A tool with a property of every kind Ollama's ToolProperty keeps, keys in the order Go writes them."""


def py_type(kind: object) -> str:
    """`json_to_python_type({"type": kind})` of the Hermes templates."""
    if isinstance(kind, list):
        return "Union[" + ",".join(py_type(k) for k in kind) + "]"
    return PY_TYPES.get(str(kind), "Union[]" if kind is None else "?")


def hermes(tool: str) -> str:
    data = json.loads(tool)
    f = data.get("function", data)
    properties = f["parameters"]["properties"]
    signature = ", ".join(f"{n}: {py_type(p.get('type'))}" for n, p in properties.items())
    args = "".join(f"        {n}({py_type(p.get('type'))}): {p.get('description', '').strip()}" for n, p in properties.items())
    head = '{"type": "function", "function": {"name": "' + f["name"] + '", "description": "'
    description = f"{f['name']}({signature}) - {f['description']}\n\n" + ("    Args:\n" + args if properties else "")
    return head + description + '", "parameters": ' + (tojson(f["parameters"]) if properties else "{}") + "}"


_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"}


def html_escape(text: str) -> str:
    """markupsafe's `escape` (what a Markup added to a str does to the str)."""
    return "".join(_HTML.get(ch, ch) for ch in text)


def functionary(tool: str) -> str:
    f = json.loads(tool)["function"]
    return f"Use the function '{html_escape(f['name'])}' to '{html_escape(f['description'])}'\n" + html_escape(tojson(f))


TS_SCALARS = {"string": "string", "number": "number", "integer": "number", "boolean": "boolean"}
"""JSON Schema's scalar type names as the TypeScript forms write them."""


def _ts(schema: dict, indent: str) -> str:
    """GigaChat's `json_schema_to_typescript(schema, indent)` for what Ollama keeps."""
    kind = schema.get("type")
    if kind == "object":
        out, required = "{\n", schema.get("required") or []
        for key, value in (schema.get("properties") or {}).items():
            lines = str(value.get("description", "")).split("\n")
            out += "".join(f"{indent}// {line}\n" for line in lines if line.strip())
            out += f"{indent}{key}{'' if key in required else '?'}: {_ts(value, indent + '  ')},\n"
        return out + indent[:-2] + "}"
    if kind in ("string", "number", "integer") and schema.get("enum"):
        return " | ".join(f'"{e}"' if kind == "string" else str(e) for e in schema["enum"])
    if kind == "array":
        return _ts(schema["items"], indent) + "[]" if "items" in schema else "Array<any>"
    return TS_SCALARS.get(str(kind), "any")


def typescript(tool: str) -> str:
    f = json.loads(tool)["function"]
    lines = [f"// {line}" for line in str(f.get("description", "")).split("\n") if line.strip()]
    params = f.get("parameters")
    signature = f"(_: {_ts(params, '  ')})" if params and params.get("properties") else "()"
    return "\n".join([*lines, f"type {f['name']} = {signature} => any;\n"])


def harmony_type(spec: dict) -> str:
    """`render_typescript_type` of a property, for what Ollama keeps (a nested object or other items: ValueError)."""
    kind = spec.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        items = spec.get("items")
        if not items:
            return "any[]"
        if items.get("type") not in TS_SCALARS:
            raise ValueError("an array of objects or of nested types")
        return TS_SCALARS[items["type"]] + "[]"
    if kind == "string" and spec.get("enum"):
        return '"' + '" | "'.join(str(e) for e in spec["enum"]) + '"'
    if kind == "object":
        if spec.get("properties"):
            raise ValueError("a nested object")
        return "object"
    return TS_SCALARS.get(str(kind), "any")


def _harmony(tool: str, last_comma: bool) -> str:
    f = json.loads(tool)["function"]
    out = f"// {f['description']}\ntype {f['name']} = "
    params = f.get("parameters") or {}
    if not params.get("properties"):
        return out + "() => any;"
    lines = []
    for name, spec in params["properties"].items():
        comment = f"// {spec['description']}\n" if spec.get("description") else ""
        lines.append(comment + name + ("" if name in (params.get("required") or []) else "?") + ": " + harmony_type(spec))
    return out + "(_: {\n" + ",\n".join(lines) + (",\n" if last_comma else "\n") + "}) => any;"


def harmony(tool: str) -> str:
    return _harmony(tool, last_comma=True)


def apertus(tool: str) -> str:
    return _harmony(tool, last_comma=False)


def _extra(data: object, handled: tuple[str, ...]) -> str:
    if not isinstance(data, dict):
        return ""
    out = []
    for key, value in data.items():
        if key not in handled:
            text = tojson(value) if isinstance(value, dict | list) else str(value)
            out.append(f"\n<{key}>{text}</{key}>")
    return "".join(out)


def xml(tool: str) -> str:
    f = json.loads(tool)["function"]
    out = f"<function>\n<name>{f['name']}</name>"
    out += f"\n<description>{f['description'].strip()}</description>" if "description" in f else ""
    out += "\n<parameters>"
    params = f.get("parameters")
    if isinstance(params, dict) and isinstance(params.get("properties"), dict):
        for name, p in params["properties"].items():
            out += f"\n<parameter>\n<name>{name}</name>" + (f"\n<type>{p['type']}</type>" if "type" in p else "")
            out += f"\n<description>{p['description'].strip()}</description>" if "description" in p else ""
            out += _extra(p, ("name", "type", "description")) + "\n</parameter>"
    out += _extra(params, ("type", "properties")) + "\n</parameters>"
    return out + _extra(f, ("type", "name", "description", "parameters")) + "\n</function>"


NAMED: dict[str, Callable[[str], str]] = {
    "hermes": hermes,
    "functionary": functionary,
    "xml": xml,
    "typescript": typescript,
    "harmony": harmony,
    "apertus": apertus,
}
"""Each named form's model: the text the template writes for one tool (a JSON text)."""
