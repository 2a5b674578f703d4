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


NAMED: dict[str, Callable[[str], str]] = {"hermes": hermes, "functionary": functionary, "xml": xml}
"""Each named form's model: the text the template writes for one tool (a JSON text)."""
