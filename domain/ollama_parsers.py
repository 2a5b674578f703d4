"""Ollama's built-in output parsers (a Modelfile's `PARSER`), modelled from Ollama's source as hubship reads it
(`model/parsers/`, August 2026): what each reads as a tool call, how it types an argument, and what it assumes about
the end of the prompt. A TEMPLATE whose calls are written one argument at a time cannot be read by Ollama's generic
tool parser (a JSON object after a tag); where a built-in parser reads exactly that format, the Modelfile names it,
once the proof has shown that the parser's rule gives every rendered call back and that the generation prompt ends as
the parser assumes.

`glm-4.7` (`glm47.go`, `glm46.go`): a call is `<tool_call>NAME<arg_key>K</arg_key><arg_value>V</arg_value>...`
up to `</tool_call>`; the text outside those four tags is XML-escaped, then the whole read as XML: the name is the
call's own text, trimmed. A value is typed by the tool's parameter (`parseValue`, `qwen3coder.go`): one leading and
one trailing newline dropped; `null` (any case) is null; then by the declared types in the order boolean, integer,
number, array, object, string, the raw text when nothing fits or the parameter is not declared. With thinking unset
or on, the parser reads the model's output as thinking from its first character: the prompt must end inside an open
`<think>`; with thinking off it looks for an opening `<think>` first.

`qwen3-coder` (`qwen3coder.go`): a call is `<tool_call>` `<function=NAME>` `<parameter=K>` VALUE `</parameter>` ...
`</function>` `</tool_call>`; each `<tag=value>` becomes `<tag name="value">`, the text between the function and
parameter tags is XML-escaped, and the whole read as XML: the function's name, each parameter's text typed as above.
It reads no thinking, so it assumes nothing about the end of the prompt.

`nemotron-3-nano` (`nemotron3nano.go`): qwen3-coder's calls (it hands the content to that parser), with thinking: from
the first character when `think` is unset or on, up to `</think>` (or a `<tool_call>`).

`laguna` (`laguna.go`): GLM's calls read without XML (`parseLagunaToolCall`), with thinking read only when `think` is
on (Laguna's templates default `enable_thinking` to false; Laguna S 2.1's to true, which this parser does not match).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

import attrs

GLM47 = "glm-4.7"
_GLM_TAGS = ("<arg_key>", "</arg_key>", "<arg_value>", "</arg_value>")
_GLM_SPLIT = re.compile("(" + "|".join(map(re.escape, _GLM_TAGS)) + ")")
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)", re.I)
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# an attribute value as Go's xml.EscapeText writes it
_ATTR_ESCAPES = {**_XML_ESCAPES, '"': "&#34;", "'": "&#39;", "\t": "&#x9;", "\n": "&#xA;", "\r": "&#xD;"}


def _xml(text: str, table: dict[str, str] = _XML_ESCAPES) -> str:
    return "".join(table.get(c, c) for c in text)


def _types(tools: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """Each tool's parameter types by name, as Ollama holds them (a type name becomes a list of one)."""
    out: dict[str, dict[str, list[str]]] = {}
    for tool in tools:
        f = json.loads(tool)["function"]
        props = (f.get("parameters") or {}).get("properties") or {}
        out[f["name"]] = {k: p["type"] if isinstance(p.get("type"), list) else [p["type"]] for k, p in props.items() if "type" in p}
    return out


def _json(raw: str, kind: type) -> object:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


def parse_value(raw: str, types: Sequence[str]) -> object:
    """`parseValue` of Ollama's qwen3coder.go, which the GLM parsers share."""
    raw = raw.removeprefix("\n").removesuffix("\n")
    if raw.lower() == "null":
        return None
    if not types:
        return raw
    single = len(types) == 1
    if "boolean" in types:
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if single:
            return False
    if "integer" in types:
        if _INT.fullmatch(raw) and -(2**63) <= int(raw) < 2**63:
            return int(raw)
        if single:
            return raw
    if "number" in types:
        if _FLOAT.fullmatch(raw):
            f = float(raw)
            return int(f) if math.isfinite(f) and f == math.trunc(f) else f
        if single:
            return raw
    for name, kind in (("array", list), ("object", dict)):
        if name in types:
            value = _json(raw, kind)
            if value is not None:
                return value
            if single:
                return raw
    return raw


def _escaped(text: str) -> str:
    """`escapeGLM46Content`: the text outside the argument tags XML-escaped, the tags kept."""
    return "".join(part if part in _GLM_TAGS else _xml(part) for part in _GLM_SPLIT.split(text))


def glm_calls(output: str, tools: Sequence[str]) -> list[tuple[str, dict[str, object]]] | None:
    """The calls the glm-4.7 parser reads in `output` (name, arguments); None when one does not parse."""
    types, calls = _types(tools), []
    for raw in _CALL.findall(output):
        try:
            root = ET.fromstring("<tool_call>" + _escaped(raw) + "</tool_call>")
        except ET.ParseError:
            return None
        name = ((root.text or "") + "".join(e.tail or "" for e in root)).strip()
        keys, values = root.findall("arg_key"), root.findall("arg_value")
        if not name or len(keys) != len(values):
            return None
        declared = types.get(name, {})
        pairs = [((k.text or "").strip(), v.text or "") for k, v in zip(keys, values, strict=True)]
        args = {k: parse_value(v, declared.get(k, [])) for k, v in pairs}
        calls.append((name, args))
    return calls


_QWEN_TAG = re.compile(r"<(\w+)=([^>]+)>")
_QWEN_XML_TAG = re.compile(r'</?(?:function|parameter)(?:\s+name="[^"]*")?>')


def _qwen_xml(raw: str) -> str:
    """`transformToXML`: `<tag=value>` as `<tag name="value">`, the text between those tags XML-escaped."""
    text = _QWEN_TAG.sub(lambda m: f'<{m[1]} name="{_xml(m[2], _ATTR_ESCAPES)}">', raw)
    out, last = [], 0
    for m in _QWEN_XML_TAG.finditer(text):
        out.append(_xml(text[last : m.start()]) + m[0])
        last = m.end()
    return "".join(out) + _xml(text[last:])


def qwen_calls(output: str, tools: Sequence[str]) -> list[tuple[str, dict[str, object]]] | None:
    """The calls the qwen3-coder parser reads in `output` (name, arguments); None when one does not parse."""
    types, calls = _types(tools), []
    for raw in _CALL.findall(output):
        xml = _qwen_xml(raw)
        try:
            root = ET.fromstring(xml[xml.find("<function") :])
        except ET.ParseError:
            return None
        name = root.get("name", "")
        declared = types.get(name, {})
        args = {p.get("name", ""): parse_value(p.text or "", declared.get(p.get("name", ""), [])) for p in root.findall("parameter")}
        calls.append((name, args))
    return calls


def opens_thinking(think: bool | None) -> bool:
    """Whether the glm-4.7 parser reads the output as thinking from its first character (the prompt ends in `<think>`)."""
    return think is None or think


_LAGUNA_ARG = re.compile(r"<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>", re.S)


def laguna_calls(output: str, tools: Sequence[str]) -> list[tuple[str, dict[str, object]]] | None:
    """The calls the laguna parser reads in `output` (`parseLagunaToolCall`): the call's text trimmed, its name the text
    before the first `<arg_key>`, trimmed; each key trimmed and each value as written (no XML reading), typed by
    `parse_value`. A call whose text starts with `{` is read as JSON `name` and `arguments`. None when one does not parse."""
    types, calls = _types(tools), []
    for raw in _CALL.findall(output):
        raw = raw.strip()
        if raw.startswith("{"):
            parsed = _json(raw, dict)
            if not parsed or not parsed.get("name"):
                return None
            calls.append((str(parsed["name"]), dict(parsed.get("arguments") or {})))
            continue
        cut = raw.find("<arg_key>")
        name = (raw if cut < 0 else raw[:cut]).strip()
        declared = types.get(name, {})
        calls.append((name, {k.strip(): parse_value(v, declared.get(k.strip(), [])) for k, v in _LAGUNA_ARG.findall(raw[max(cut, 0) :])}))
    return calls


def _glm_ends(prompt: str, think: bool | None) -> bool:
    return prompt.endswith("<think>") == opens_thinking(think)


def _nemotron_ends(prompt: str, think: bool | None) -> bool:
    """`Nemotron3NanoParser.Init`: thinking from the start when `think` is unset or on (an opening `<think>` and the
    whitespace after it dropped), content when off: the prompt ends in an open `<think>` (whitespace after it allowed)
    when unset or on, after `</think>` (whitespace after it allowed) when off."""
    return prompt.rstrip().endswith("<think>" if opens_thinking(think) else "</think>")


def _laguna_ends(prompt: str, think: bool | None) -> bool:
    """`LagunaParser.Init`: thinking from the start only when `think` is on, content (thinking suppressed) when unset or
    off: the prompt ends in `<think>` when on, in `</think>` otherwise."""
    return prompt.rstrip().endswith("<think>") if think else prompt.endswith("</think>")


@attrs.frozen
class Parser:
    """A modelled parser: `calls` its call reader; `ends` whether a generation prompt ends as it assumes for a think
    setting (None: it reads no thinking, so it assumes nothing and suits only a TEMPLATE without thinking), `assumes`
    that assumption in words; `thinking` whether it gives Ollama's `thinking` capability (`HasThinkingSupport`)."""

    calls: Callable[[str, Sequence[str]], list[tuple[str, dict[str, object]]] | None]
    ends: Callable[[str, bool | None], bool] | None
    assumes: str = ""
    thinking: bool = False


QWEN3_CODER = "qwen3-coder"
NEMOTRON3_NANO = "nemotron-3-nano"
LAGUNA = "laguna"
PARSERS = {
    GLM47: Parser(glm_calls, _glm_ends, "a prompt that ends in <think> exactly when thinking is unset or on", thinking=True),
    QWEN3_CODER: Parser(qwen_calls, None),
    NEMOTRON3_NANO: Parser(
        qwen_calls,
        _nemotron_ends,
        "a prompt that ends in an open <think> when thinking is unset or on, in </think> when off",
        thinking=True,
    ),
    LAGUNA: Parser(
        laguna_calls, _laguna_ends, "a prompt that ends in <think> when thinking is on, in </think> when unset or off", thinking=True
    ),
}
"""Each modelled parser, tried in this order (`nemotron-3-nano` reads qwen3-coder's calls, `laguna` GLM's)."""
THINKING = frozenset(n for n, p in PARSERS.items() if p.thinking)
"""The parsers that give a model Ollama's `thinking` capability (`HasThinkingSupport`); every one gives `tools`."""
