"""A chat template rewritten so that llama.cpp's own Jinja engine renders it as Python's Jinja (transformers) does,
where two gaps of that engine would otherwise change what a tool conversation writes (docs/adr/027-llama-cpp-template-patch.md):

- **A value written as text.** `{{ x }}` writes Python's `str(x)`: `None`, `True`, `False`, and a dict or list as
  Python writes it (`{'days': 3, 'langs': ['en']}`: each string inside by `repr`). llama.cpp's engine writes nothing for
  `None` or an object (a call's nested argument, the pinned source as run), so a template that writes an argument's
  value as it is (MiniCPM5, Gemma 4) loses it. Every output of a bare name (`{{ x }}`, `{{- message.content -}}`,
  `{{ a['b'] }}`) goes through PY_STR, a macro that writes what Python writes: the value itself for a string, so a
  template's text is unchanged wherever its values are strings.
- **Membership in a literal.** `t in ("number", "integer")` of a list `t` (a JSON schema type such as
  `["string", "null"]`) is False in Python; llama.cpp's engine stops with `Unknown operator "in" between Array and
  Tuple` (and Array and Array), and llama-server then fails every request with tools (Seed-OSS). Where the literal
  holds only strings, `(t is string and t in [...])` is the same test in Python and runs in llama.cpp.

What PY_STR does not write as Python does: a string inside a dict or list that holds a control character other than
tab, newline and carriage return, or a character Python's `repr` escapes as not printable (U+00A0, U+200B, ...):
Python writes an escape, PY_STR the character. A number is written by the engine (`2.5`, `3`).

The rewrite is made on text, tag by tag (comments are left as they are), and a template with a `raw` block is left as it
is. A dict's or list's items are
written by PY_STR; a tuple, range or other sequence as the engine writes it (Python: as `str`). It is kept only where
llama-server proves it (the caller).
"""

from __future__ import annotations

import re

PATCH_MARK = "{# hubship: llama.cpp patch #}"
"""What a patched template starts with: a Jinja comment that renders nothing (no newline after it, see patch_for_llama_cpp)."""

_QUOTES_ESCAPED = r"""| replace('\\', '\\\\') | replace('\n', '\\n') | replace('\r', '\\r') | replace('\t', '\\t')"""
PY_STR = (
    "{%- macro hubship_py(v, nested=false) -%}"
    "{%- if v is not defined -%}{{- 'Undefined' if nested else '' -}}"
    "{%- elif v is string -%}"
    "{%- if not nested -%}{{- v -}}"
    """{%- elif "'" in v and '"' not in v -%}{{- '"' ~ (v """ + _QUOTES_ESCAPED + """) ~ '"' -}}"""
    """{%- else -%}{{- "'" ~ (v """ + _QUOTES_ESCAPED + """ | replace("'", "\\\\'")) ~ "'" -}}"""
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
"""`hubship_py(v)`: `str(v)` as Python writes it, in Jinja that Python's and llama.cpp's engines both run."""

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
    if not chat_template.startswith("{") or re.search(r"\{%[-+]?\s*raw\b", chat_template) or PATCH_MARK in chat_template:
        return chat_template
    patched = _TAGS.sub(_tag, chat_template)
    if patched == chat_template:
        return chat_template
    return PATCH_MARK + PY_STR + patched


def is_patched(chat_template: str) -> bool:
    """Whether a chat template holds patch_for_llama_cpp's rewrite (after any comment before it)."""
    return PATCH_MARK in chat_template[: len(PATCH_MARK) + 400]
