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

The rewrite is made on text: a `{{ ... }}` inside a string literal of an expression or a `{% raw %}` block would be
rewritten too (a template with `raw` is left as it is). It is kept only where llama-server proves it (the caller).
"""

from __future__ import annotations

import re

PATCH_MARK = "{# hubship: llama.cpp patch #}"
"""What a patched template starts with: a Jinja comment that renders nothing (no newline after it, see patch_for_llama_cpp)."""

_QUOTES_ESCAPED = r"""| replace('\\', '\\\\') | replace('\n', '\\n') | replace('\r', '\\r') | replace('\t', '\\t')"""
PY_STR = (
    "{%- macro hubship_py(v, nested=false) -%}"
    "{%- if v is not defined -%}"
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
    "{%- elif v is sequence -%}{{- '[' -}}"
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
    r"(?<![\w.\]'\"])(" + _REF + r")\s+(not\s+in|in)\s+"
    r"(?:\(\s*(" + _STRING + r"(?:\s*,\s*" + _STRING + r")+|" + _STRING + r"\s*,)\s*,?\s*\)"
    r"|\[\s*(" + _STRING + r"(?:\s*,\s*" + _STRING + r")*)\s*,?\s*\])"
)
_KEYWORDS = frozenset({"not", "and", "or", "in", "is", "if", "else", "true", "false", "none", "loop"})


def _output(match: re.Match[str]) -> str:
    left, ref, right = match.groups()
    if ref.lower() in _KEYWORDS or ref == "hubship_py":
        return match.group(0)
    return f"{{{{{left} hubship_py({ref}) {right}}}}}"


def _member(match: re.Match[str]) -> str:
    ref, op, in_tuple, in_list = match.groups()
    items = (in_tuple or in_list).rstrip().rstrip(",")
    if ref.lower() in _KEYWORDS:
        return match.group(0)
    if op == "in":
        return f"({ref} is string and {ref} in [{items}])"
    return f"({ref} is not string or {ref} not in [{items}])"


def _in_tags(pattern: re.Pattern[str], text: str, repl: object) -> str:
    """`pattern` replaced inside `{% ... %}` and `{{ ... }}` only."""
    return re.sub(r"\{[%{].*?[%}]\}", lambda tag: pattern.sub(repl, tag.group(0)), text, flags=re.S)  # type: ignore[arg-type]


def patch_for_llama_cpp(chat_template: str) -> str:
    """The chat template with the two rewrites of the module docstring, PATCH_MARK and PY_STR before it; the template
    itself where neither applies, it holds a `raw` block, or it does not start with `{` (nothing then stands between
    the macro and it for `trim_blocks` or `lstrip_blocks` to act on)."""
    if not chat_template.startswith("{") or re.search(r"\{%-?\s*raw\b", chat_template):
        return chat_template
    patched = _OUTPUT.sub(_output, _in_tags(_MEMBER, chat_template, _member))
    if patched == chat_template:
        return chat_template
    return PATCH_MARK + PY_STR + patched


def is_patched(chat_template: str) -> bool:
    """Whether a chat template holds patch_for_llama_cpp's rewrite (after any comment before it)."""
    return PATCH_MARK in chat_template[: len(PATCH_MARK) + 400]
