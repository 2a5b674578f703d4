"""A chat template rewritten so that llama.cpp's own Jinja engine renders it as Python's Jinja (transformers) does,
where two gaps of that engine would otherwise change what a tool conversation writes (docs/adr/027-llama-cpp-template-patch.md):

- **A value written as text.** `{{ x }}` writes Python's `str(x)`: `None`, `True`, `False`, and a dict or list as
  Python writes it (`{'days': 3, 'langs': ['en']}`: each string inside by `repr`). llama.cpp's engine writes nothing for
  `None` or an object (a call's nested argument, the pinned source as run), so a template that writes an argument's
  value as it is (MiniCPM5, Gemma 4) loses it. Every output of a bare name (`{{ x }}`, `{{- message.content -}}`,
  `{{ a['b'] }}`) goes through `hubship_py` (py_str), a macro that writes what Python writes: the value itself for a string, so a
  template's text is unchanged wherever its values are strings.
- **Membership in a literal.** `t in ("number", "integer")` of a list `t` (a JSON schema type such as
  `["string", "null"]`) is False in Python; llama.cpp's engine stops with `Unknown operator "in" between Array and
  Tuple` (and Array and Array), and llama-server then fails every request with tools (Seed-OSS). Where the literal
  holds only strings, `(t is string and t in [...])` is the same test in Python and runs in llama.cpp.

What `hubship_py` does not write as Python does: inside a dict or list, a string holding NUL, a private-use or an
unassigned code point (Python's `repr` escapes them, the macro writes them as they are); a number, which the engine
writes (`2.5`, `3`).

The rewrite is made on text, tag by tag (comments are left as they are), and a template with a `raw` block is left as it
is. A dict's or list's items are written by the macro; a tuple, range or other sequence as the engine writes it (Python:
as `str`). It is kept only where llama-server proves it (the caller).
"""

from __future__ import annotations

import functools
import re
import unicodedata

PATCH_MARK = "{# hubship: llama.cpp patch #}"
"""What a patched template starts with: a Jinja comment that renders nothing (no newline after it, see patch_for_llama_cpp),
then the macro (py_str)."""

_SPELLED = r"""['\\', '\\\\'], ['\n', '\\n'], ['\r', '\\r'], ['\t', '\\t']"""
"""The characters `repr` escapes by name, as (character, escape) pairs in Jinja literals: the backslash first."""
_WRITTEN = ("Cc", "Cf", "Zs", "Zl", "Zp")
"""The assigned characters Python's `repr` escapes as not printable (private-use and unassigned code points aside)."""


def _escape(c: str) -> str:
    code = ord(c)
    return f"\\\\x{code:02x}" if code < 0x100 else f"\\\\u{code:04x}" if code < 0x10000 else f"\\\\U{code:08x}"


@functools.cache
def py_str() -> str:
    """The macro `hubship_py(v)`: `str(v)` as Python writes it, in Jinja that Python's and llama.cpp's engines both run.
    A string inside a dict or list is written as `repr` writes it: the characters it escapes are matched by `replace`
    with the character itself in the literal (llama.cpp's engine reads no `\\x` escape in a literal; both read the raw
    character), NUL aside."""
    unprintable = (
        c for c in map(chr, range(1, 0x110000)) if c not in "\t\n\r" and not c.isprintable() and unicodedata.category(c) in _WRITTEN
    )
    pairs = ", ".join([_SPELLED, *(f"['{c}', '{_escape(c)}']" for c in unprintable)])
    escaped = (  # in a loop: a chain of this many filters nests too deep for Python to compile
        "{%- set hubship_s = namespace(text=v) -%}"
        "{%- for hubship_pair in [" + pairs + "] -%}"
        "{%- set hubship_s.text = hubship_s.text | replace(hubship_pair[0], hubship_pair[1]) -%}"
        "{%- endfor -%}"
    )
    return (
        "{%- macro hubship_py(v, nested=false) -%}"
        "{%- if v is not defined -%}{{- 'Undefined' if nested else '' -}}"
        "{%- elif v is string -%}"
        "{%- if not nested -%}{{- v -}}"
        "{%- else -%}" + escaped + ""
        """{%- if "'" in v and '"' not in v -%}{{- '"' ~ hubship_s.text ~ '"' -}}"""
        """{%- else -%}{{- "'" ~ (hubship_s.text | replace("'", "\\\\'")) ~ "'" -}}{%- endif -%}"""
        "{%- endif -%}"
        "{%- elif v is none -%}{{- 'None' -}}"
        "{%- elif v is boolean -%}{{- 'True' if v else 'False' -}}"
        "{%- elif v is mapping -%}{{- '{' -}}"
        "{%- for hubship_k, hubship_x in v.items() -%}{{- hubship_py(hubship_k, true) ~ ': ' ~ hubship_py(hubship_x, true) -}}"
        "{%- if not loop.last -%}{{- ', ' -}}{%- endif -%}{%- endfor -%}{{- '}' -}}"
        "{%- elif v is sequence and (v | string)[:1] == '[' -%}{{- '[' -}}"
        "{%- for hubship_x in v -%}{{- hubship_py(hubship_x, true) -}}{%- if not loop.last -%}{{- ', ' -}}{%- endif -%}{%- endfor -%}"
        "{{- ']' -}}"
        "{%- else -%}{{- v -}}"
        "{%- endif -%}"
        "{%- endmacro -%}"
    )


_REF = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\s*(?:'[^'\n]*'|\"[^\"\n]*\"|\d+)\s*\])*"
_OUTPUT = re.compile(r"\{\{(-?)\s*(" + _REF + r")\s*(-?)\}\}")
_STRING = r"(?:'[^'\\\n]*'|\"[^\"\\\n]*\")"
_MEMBER = re.compile(
    r"(\b(?:if|elif|and|or|not)\s+|\(\s*)(" + _REF + r")\s+(not\s+in|in)\s+"
    r"(?:\(\s*(" + _STRING + r"(?:\s*,\s*" + _STRING + r")+|" + _STRING + r"\s*,)\s*,?\s*\)"
    r"|\[\s*(" + _STRING + r"(?:\s*,\s*" + _STRING + r")*)\s*,?\s*\])"
    r"(?=\s*(?:\)|-?%\}|-?\}\}|,|(?:and|or|if|else)\b))"
)
"""`x in <literal of strings>` where nothing binds tighter around it: after `if`, `elif`, `and`, `or`, `not` or `(`
(not a `for` target, nor an operand of `~`, `==`, a filter...), and before `)`, the tag's end, `,`, `and`, `or`, `if`
or `else`."""
_TAGS = re.compile(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
_KEYWORDS = frozenset({"not", "and", "or", "in", "is", "if", "else", "true", "false", "none", "loop"})


def _output(match: re.Match[str]) -> str:
    left, ref, right = match.groups()
    if ref.lower() in _KEYWORDS or ref == "hubship_py":
        return match.group(0)
    return f"{{{{{left} hubship_py({ref}) {right}}}}}"


def _member(match: re.Match[str]) -> str:
    before, ref, op, in_tuple, in_list = match.groups()
    items = (in_tuple or in_list).rstrip().rstrip(",")
    if ref.lower() in _KEYWORDS:
        return match.group(0)
    if op == "in":
        return f"{before}({ref} is string and {ref} in [{items}])"
    return f"{before}({ref} is not string or {ref} not in [{items}])"


def _tag(match: re.Match[str]) -> str:
    """A tag rewritten: membership in `{% %}` and `{{ }}`, outputs of a bare name in `{{ }}`; a comment as it is."""
    tag = match.group(0)
    if tag.startswith("{#"):
        return tag
    tag = _MEMBER.sub(_member, tag)
    output = _OUTPUT.fullmatch(tag)  # the whole tag: not a `{{ x }}` inside a string literal of another
    return _output(output) if output else tag


def patch_for_llama_cpp(chat_template: str) -> str:
    """The chat template with the two rewrites of the module docstring, PATCH_MARK and PY_STR before it; the template
    itself where neither applies, it holds a `raw` block, it is patched already, or it does not start with `{` (nothing
    then stands between the macro and it for `trim_blocks` or `lstrip_blocks` to act on)."""
    if not chat_template.startswith("{") or re.search(r"\{%[-+]?\s*raw\b", chat_template) or is_patched(chat_template):
        return chat_template
    patched = _TAGS.sub(_tag, chat_template)
    if patched == chat_template:
        return chat_template
    return PATCH_MARK + py_str() + patched


def is_patched(chat_template: str) -> bool:
    """Whether a chat template holds patch_for_llama_cpp's rewrite (its mark, a comment no template writes itself)."""
    return PATCH_MARK in chat_template
