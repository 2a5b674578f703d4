"""Write a ToolStructure (chat_tools) as the tools-on half of an Ollama TEMPLATE: `{{ if .Tools }}` this, else the plain one.

Ollama hands the TEMPLATE `.Tools` (each `.Function.Name`, `.Function.Description`, `.Function.Parameters`) and, per
message, `.ToolCalls` (each `.Function.Name` and `.Function.Arguments`, a Go map), `.ToolName`, `.ToolCallID`. Jinja's
`tojson` writes Python's JSON (`", "` and `": "`, keys in the caller's order, `<`/`&` and non-ASCII as they are);
Ollama's `json` and the String forms write Go's (compact, keys sorted, `<`/`&` escaped). So the JSON is written
here member by member: strings with `printf "%q"` (Go's quoting equals JSON's for printable text), numbers, booleans
and null with `json`, objects and lists by a recursive template. Key order is the one thing no construct restores:
Ollama's map has lost the caller's order, so keys come out sorted.

Ollama finds tool calls in the model's output by the first text inside the template's first `if .ToolCalls` block,
up to a `{` (else `{` itself); the calls are written in such a block, opening with what the model writes before
its first call as raw text. `.ToolCalls` is never tested anywhere before it (the kind test uses `$m.ToolCalls`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import attrs

from hubship.domain.chat_calls import BY_ID, BY_LAST, CALL_INDEX, PREVIOUS_RESULT_ID, RESULT_ID, RESULT_NAME, ArgForm
from hubship.domain.chat_template import SYSTEM0, ChatStructure, TemplateNotDerivable
from hubship.domain.chat_tools import TOOLS_SLOT, ToolStructure
from hubship.domain.go_json import JSON, JSON_DEFINE, indented_defines, json_at
from hubship.domain.go_template import LAST_USER_HEAD, Extension, emit_go_template, fail, go_string
from hubship.domain.go_tool_forms import DEFINES, WRITERS
from hubship.domain.ollama_runtime import ROUND_TRIP
from hubship.domain.tool_probes import LAST_USER

NO_TOOLS = "hubship: send this model's tools with the request when the conversation has tool calls or tool results"
USER_FIRST = "hubship: with tools, this model's chat template needs a user message before any other (after the system message)"

ARG = "hubship-arg"
TOOLS = "hubship-tools"


def tools_define(s: ToolStructure) -> str:
    """The template writing the offered tools (its data: `.Tools`) as the chat template does, once for every place."""
    each = "{{ range $n, $t := . }}{{ if $n }}" + _lit(s.tool_sep) + "{{ end }}" + tool_writer(s) + "{{ end }}"
    return f'{{{{- define "{TOOLS}" }}}}' + each + "{{- end }}"


def arg_define(form: ArgForm) -> str:
    """The template writing one argument value as `form` says (strings, Python or JSON scalars, JSON otherwise)."""
    string = '{{ printf "%q" . }}' if form.json_strings else "{{ . }}"
    scalars = ""
    if form.python_scalars:
        scalars = '{{- else if eq $t "bool" }}{{ if . }}True{{ else }}False{{ end }}{{- else if eq $t "<nil>" }}None'
    return (
        f'{{{{- define "{ARG}" }}}}{{{{ $t := printf "%T" . }}}}{{{{- if eq $t "string" }}}}{string}{scalars}'
        f'{{{{- else }}}}{{{{ template "{JSON}" . }}}}{{{{- end }}}}{{{{- end }}}}'
    )


def _lit(text: str) -> str:
    return "{{ " + go_string(text) + " }}" if text else ""


Member = tuple[str, Callable[[int], str], str]
"""(key, Go text printing the value at an indent level, Go condition for an optional member or "")."""


def _object(members: list[Member], level: int, indent: int | None) -> str:
    """Go text writing a JSON object as Python's json.dumps does (`indent` None: one line)."""
    pad = (lambda n: "\n" + " " * (indent * n)) if indent else (lambda n: "")
    sep = "," + pad(level + 1) if indent else ", "
    out = [_lit("{" + pad(level + 1))]
    for n, (key, value, condition) in enumerate(members):
        piece = _lit((sep if n else "") + f'"{key}": ') + value(level + 1)
        out.append("{{ if " + condition + " }}" + piece + "{{ end }}" if condition else piece)
    return "".join(out) + _lit(pad(level) + "}")


def _string(expr: str) -> Callable[[int], str]:
    return lambda level: f'{{{{ printf "%q" {expr} }}}}'


def _json(expr: str, indent: int | None) -> Callable[[int], str]:
    return lambda level: json_at(expr, indent, level)


def _property_type(indent: int | None) -> Callable[[int], str]:
    """A property's type: one name as a string, several as a list."""
    several = _list("$p.Type", indent, '{{ printf "%q" $x }}')
    return lambda level: '{{ if eq (len $p.Type) 1 }}{{ printf "%q" (index $p.Type 0) }}{{ else }}' + several(level) + "{{ end }}"


def _properties(indent: int | None) -> Callable[[int], str]:
    def write(level: int) -> str:
        prop = _object(
            [
                ("type", _property_type(indent), ""),
                ("description", _string("$p.Description"), "$p.Description"),
                ("enum", _list("$p.Enum", indent, f'{{{{ template "{JSON}" $x }}}}'), "$p.Enum"),
                ("items", _json("$p.Items", indent), "$p.Items"),
            ],
            level + 1,
            indent,
        )
        pad = ("\n" + " " * (indent * (level + 1))) if indent else ""
        sep = ("," + pad) if indent else ", "
        entry = "{{ if not $first }}" + _lit(sep) + "{{ end }}{{ $first = false }}" + '{{ printf "%q" $name }}' + _lit(": ") + prop
        close = ("\n" + " " * (indent * level)) if indent else ""
        return (
            "{{ if $t.Function.Parameters.Properties }}"
            + _lit("{" + pad)
            + "{{ $first := true }}{{ range $name, $p := $t.Function.Parameters.Properties }}"
            + entry
            + "{{ end }}"
            + _lit(close + "}")
            + '{{ else }}{{ "{}" }}{{ end }}'
        )

    return write


def _list(expr: str, indent: int | None, item: str) -> Callable[[int], str]:
    """Go text writing the list `expr` as json.dumps does, each element `$x` written by `item`."""

    def write(level: int) -> str:
        pad = ("\n" + " " * (indent * (level + 1))) if indent else ""
        sep = ("," + pad) if indent else ", "
        close = ("\n" + " " * (indent * level)) if indent else ""
        items = f"{{{{ range $k, $x := {expr} }}}}{{{{ if $k }}}}" + _lit(sep) + "{{ end }}" + item + "{{ end }}"
        return f"{{{{ if {expr} }}}}" + _lit("[" + pad) + items + _lit(close + "]") + '{{ else }}{{ "[]" }}{{ end }}'

    return write


def tool_writer(s: ToolStructure) -> str:
    """Go text writing the tool `$t` as the template's `tojson` does."""
    indent = s.form.indent
    parameters = lambda level: _object(  # noqa: E731
        [
            ("type", _string("$t.Function.Parameters.Type"), ""),
            ("properties", _properties(indent), ""),
            ("required", _list("$t.Function.Parameters.Required", indent, '{{ printf "%q" $x }}'), "$t.Function.Parameters.Required"),
        ],
        level,
        indent,
    )
    function = lambda level: _object(  # noqa: E731
        [
            ("name", _string("$t.Function.Name"), ""),
            ("description", _string("$t.Function.Description"), ""),
            ("parameters", parameters, ""),
        ],
        level,
        indent,
    )
    if s.form.named:
        return WRITERS[s.form.named](parameters, function)
    if not s.form.whole:
        return function(s.form.level)
    return _object([("type", _string("$t.Type"), ""), ("function", function, "")], s.form.level, indent)


def _calls(s: ToolStructure) -> str:
    """The calls message: its content where the template writes it, then the `.ToolCalls` block Ollama reads its tag from."""
    content = ""
    if s.content:
        content = "{{ if $m.Content }}" + _lit(s.content[0]) + "{{ $m.Content }}" + _lit(s.content[1]) + "{{ end }}"
    raw, brace, rest = s.opening.partition("{")
    rest = brace + rest
    if "{{" in raw or "}}" in raw:
        raw, rest = "", s.opening
    args = f'{{{{ template "{JSON}" $c.Function.Arguments }}}}'
    if s.args:
        args = (
            "{{ $first := true }}{{ range $key, $v := $c.Function.Arguments }}{{ if not $first }}"
            + _lit(s.args.inter)
            + "{{ end }}{{ $first = false }}{{ $key }}"
            + _lit(s.args.mid)
            + f'{{{{ template "{ARG}" $v }}}}{{{{ end }}}}'
        )
    writes = {"name": "{{ $c.Function.Name }}", "id": "{{ $c.ID }}", "args": args}
    pairs = zip(s.layout.seps, s.layout.pieces[1:], strict=True)
    each = writes[s.layout.pieces[0]] + "".join(_indexed(sep) + writes[p] for sep, p in pairs)
    sep = "{{ if $k }}" + _lit(s.call_sep or "") + "{{ end }}"
    calls = "slice .ToolCalls 0 1" if s.first_call_only else ".ToolCalls"  # the template's `tool_calls[0]`
    return content + "{{- if .ToolCalls }}" + raw + _lit(rest) + f"{{{{ range $k, $c := {calls} }}}}" + sep + each + "{{ end }}{{ end }}"


def _indexed(sep: str) -> str:
    """Go text writing `sep`, with the call's index where it has CALL_INDEX."""
    return "{{ $k }}".join(_lit(part) for part in sep.split(CALL_INDEX))


def _without_opening(s: ToolStructure) -> ToolStructure:
    """The structure with the opening (and the content's place) cut from the end of every glue string before calls."""
    cut = s.content_at if s.content else len(s.opening)
    ends = {text[len(text) - cut :] for key, text in s.chat.glue.items() if key[1].rstrip("*") == "calls"}
    if len(ends) != 1:
        raise TemplateNotDerivable("the text before tool calls does not end the same way after every kind of message")
    glue = {key: text[: len(text) - cut] if key[1].rstrip("*") == "calls" else text for key, text in s.chat.glue.items()}
    return attrs.evolve(s, chat=attrs.evolve(s.chat, glue=glue), opening=ends.pop())


_LOOKUP = (
    "{{ range $x := $.Messages }}{{ range $c := $x.ToolCalls }}{{ if eq $c.ID $m.ToolCallID }}{{ $c.Function.Name }}"
    "{{ end }}{{ end }}{{ end }}"
)
"""A result's function name looked up by its call id, as Solar Open's `get_tool_name` macro does."""
_LAST_FIRST = (
    '{{ $named := "" }}{{ range $j, $x := $.Messages }}{{ if and (lt $j $i) $x.ToolCalls }}'
    "{{ $named = (index $x.ToolCalls 0).Function.Name }}{{ end }}{{ end }}{{ $named }}"
)
"""A result's function name as the first call of the latest message with calls before it (gpt-oss's `last_tool_call`)."""


def tools_extension(s: ToolStructure) -> Extension:
    """The emitter hooks that write tools, calls and tool results (see the module docstring)."""
    checks = [
        # the tool role tested on the dot (the message, inside the range) as Ollama reads a tool round trip (ollama_runtime)
        f'{{{{- if not (or ({ROUND_TRIP}) (eq $m.Role "system" "user" "assistant")) }}}}'
        + fail("hubship: unknown message role")
        + "{{ end }}",
        '{{- if and (not $spoke) (ne $m.Role "system") }}{{ if ne $m.Role "user" }}'
        + fail(USER_FIRST)
        + "{{ end }}{{ $spoke = true }}{{ end }}",
    ]
    if s.alternate:
        checks.append(
            '{{- if and (eq $m.Role "user" "assistant") (not $m.ToolCalls) }}{{ if ne $m.Role $want }}' + fail(s.alternate) + "{{ end }}"
            '{{ if eq $want "user" }}{{ $want = "assistant" }}{{ else }}{{ $want = "user" }}{{ end }}{{ end }}'
        )
    if s.call_sep is None and not s.first_call_only:
        checks.append("{{- if gt (len $m.ToolCalls) 1 }}" + fail(s.one_call) + "{{ end }}")
    result = '{{ printf "%q" $m.Content }}' if s.json_results else "{{ $m.Content }}"
    last_user = f'{{{{- if and (eq $m.Role "user") (eq $i $lastUser) }}}}{{{{ $kind = "{LAST_USER}" }}}}{{{{ end }}}}'
    last_user_kind = (last_user,) if s.last_user else ()
    return Extension(
        kinds=("calls", "tool", *([LAST_USER] if s.last_user else [])),
        classify=('{{- if $m.ToolCalls }}{{ $kind = "calls" }}{{ end }}', *last_user_kind),
        checks=tuple(checks),
        contents={"calls": _calls(s), "calls*": _calls(s), "tool": result},
        slots={
            TOOLS_SLOT: f'{{{{ template "{TOOLS}" $.Tools }}}}',
            RESULT_ID: "{{ $m.ToolCallID }}",
            PREVIOUS_RESULT_ID: "{{ $resultID }}",
            RESULT_NAME: {BY_ID: _LOOKUP, BY_LAST: _LAST_FIRST}.get(s.result_names, "{{ $m.ToolName }}"),
        },
        head=("{{- $spoke := false }}", '{{- $resultID := "" }}', '{{- $want := "user" }}', *(LAST_USER_HEAD * s.last_user)),
        after=("{{- $resultID = $m.ToolCallID }}",),
    )


def emit_with_tools(
    plain: ChatStructure,
    s: ToolStructure,
    frozen: datetime.date | None = None,
    plain_ext: Extension = Extension(),
    tools_ext: Extension = Extension(),
) -> str:
    """The whole TEMPLATE: the tools-on layout when the request has tools, else the `plain` one (which refuses tool
    calls and results: without tools the template would write them differently or not at all). `plain_ext` and
    `tools_ext` add hooks to each half (thinking)."""
    if SYSTEM0 in s.chat.hidden:
        raise TemplateNotDerivable("the template drops the system message when it is given tools")
    cut = _without_opening(s)
    tools = emit_go_template(cut.chat, frozen, tools_extension(cut) + tools_ext)
    refuse = (
        '{{- if not (eq $m.Role "system" "user" "assistant") }}' + fail(NO_TOOLS) + "{{ end }}",
        "{{- if $m.ToolCalls }}" + fail(NO_TOOLS) + "{{ end }}",
    )
    without = emit_go_template(plain, frozen, Extension(checks=refuse) + plain_ext)
    defines = [JSON_DEFINE, tools_define(s), *([arg_define(s.args)] if s.args else [])]
    defines += [indented_defines(s.form.indent)] if s.form.indent and not s.form.named else []
    defines += [DEFINES[s.form.named]()] if s.form.named in DEFINES else []
    return "\n".join(["{{- if .Tools }}", tools, "{{- else }}", without, "{{- end }}", *defines])
