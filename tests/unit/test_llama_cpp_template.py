"""domain.llama_cpp_template: the rewrite that makes llama.cpp's Jinja engine render a chat template as Python's Jinja
does. What is asserted here runs in Python's Jinja, as transformers compiles templates: the rewrite must not change a
render there (every template of the collection, on the tool conversations), and `hubship_py` must write `str(v)`.
llama-server's side is proven where it runs: tests/benchmarks/bench_templates.py and application.gguf_chat_template."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from transformers.utils.chat_template_utils import _compile_jinja_template

from hubship.adapters.torch.chat_renderer import JinjaChatRenderer
from hubship.application.ollama_tools import jinja_outcome
from hubship.application.served_proof import native_case
from hubship.domain.llama_cpp_template import PATCH_MARK, is_patched, patch_for_llama_cpp, py_str
from hubship.domain.ollama_runtime import THINKING_HINT, gguf_templates
from hubship.domain.served_requests import ollama_tool_cases
from tests.support.template_collection import profile_for, templates, templates_dir

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    3,
    2.5,
    "plain",
    "",
    {},
    [],
    {"b": 1, "a": [1, "x", None, True, 2.5]},
    ["it's", 'say "hi"', "both ' and \"", "back\\slash", "line\nbreak\ttab\rreturn", "émoji 🌦 b<c & d"],
    {"nested": {"deeper": ["a", {"k": "v"}]}, "e": ""},
    {"enum": ("a", "b"), "pair": [("k", 1)]},  # tuples: Python writes them as tuples, not lists
    range(3),
    b"hi",
    ["nul-free controls \x01\x1b\x7f", "latin-1 \x85\xa0\xad", "wide \u200b\u2028\ufeff\u3000", "astral \U000e0001"],
]


def _str(value: Any) -> str:
    return _compile_jinja_template(py_str() + "{{ hubship_py(value) }}").render(value=value)


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:30] for v in VALUES])
def test_hubship_py_writes_what_python_writes(value: Any) -> None:
    assert _str(value) == str(value)


def test_the_macro_escapes_every_assigned_character_python_escapes_in_a_nested_string() -> None:
    unprintable = [chr(c) for c in range(1, 0x110000) if not chr(c).isprintable()]
    assigned = [c for c in unprintable if unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp")]
    assert len(assigned) > 200 and _str([assigned]) == str([assigned])


def test_an_undefined_value_writes_what_python_writes_alone_and_in_a_list() -> None:
    source = "[{{ missing }}]{% set listed = [m.missing] %}{{ listed }}"
    assert _compile_jinja_template(patch_for_llama_cpp(source)).render(m={}) == "[][Undefined]"
    assert _compile_jinja_template(source).render(m={}) == "[][Undefined]"


def test_a_patched_template_is_not_patched_again() -> None:
    once = patch_for_llama_cpp("{{ x }}")
    assert patch_for_llama_cpp(once) == once and _compile_jinja_template(once).render(x="hi") == "hi"


def test_outputs_of_a_bare_name_go_through_hubship_py_and_nothing_else_does() -> None:
    text = "{{- argument -}}|{{ message['content'] }}|{{ a.b[0] }}|{{ 'lit' }}|{{ a + b }}|{{ f(x) }}|{{ none }}"
    patched = patch_for_llama_cpp(text)
    assert patched.startswith(PATCH_MARK + py_str()) and is_patched(patched) and not is_patched(text)
    body = patched[len(PATCH_MARK + py_str()) :]
    assert body == (
        "{{- hubship_py(argument) -}}|{{ hubship_py(message['content']) }}|{{ hubship_py(a.b[0]) }}|{{ 'lit' }}|{{ a + b }}"
        "|{{ f(x) }}|{{ none }}"
    )


@pytest.mark.parametrize(
    ("test", "rewritten"),
    [
        ('t in ("number", "integer")', '(t is string and t in ["number", "integer"])'),
        ("m.role in ['user', 'system']", "(m.role is string and m.role in ['user', 'system'])"),
        ("t not in ('a',)", "(t is not string or t not in ['a'])"),
        ("t in ('abc')", "t in ('abc')"),  # a string in parentheses: a substring test, left alone
        ("t in [a, 'b']", "t in [a, 'b']"),  # not only strings
    ],
)
def test_membership_in_a_literal_of_strings_is_guarded_by_a_type_test(test: str, rewritten: str) -> None:
    text = "{%- if " + test + " %}yes{% endif %}{{ x }}"
    assert patch_for_llama_cpp(text).endswith("{%- if " + rewritten + " %}yes{% endif %}{{ hubship_py(x) }}")
    for t in ("number", "abc", ["string", "null"], None, 3):
        source = "{% set m = {'role': t} %}{%- if " + test.replace("[a, ", "[t, ") + " %}yes{% endif %}"
        patched = patch_for_llama_cpp(source + "{{ x }}").removesuffix("{{ hubship_py(x) }}")
        assert _outcome(patched, t) == _outcome(source, t)


def _outcome(source: str, t: Any) -> str:
    try:
        return _compile_jinja_template(source).render(t=t)
    except TypeError as exc:  # a substring test of a list, in both
        return f"TypeError: {exc}"


@pytest.mark.parametrize(
    "test",
    [
        "{%- for k in ['name', 'description'] %}<{{ k.upper() }}>{% endfor %}",  # a loop over a literal
        "{% if role|lower in ('user', 'system') %}Y{% endif %}",  # a filter binds tighter
        "{% if 'x' ~ t in ('xa', 'xb') %}Y{% else %}N{% endif %}",  # so does `~`
        "{% if a == t in ('a', 'b') %}Y{% else %}N{% endif %}",  # a comparison chain
        "{% if t in ['a'] + extra %}Y{% endif %}",  # an operator after the literal
        "{% if t in ('a', 'b')|list %}Y{% endif %}",  # a filter after it
    ],
)
def test_membership_where_something_binds_tighter_around_it_is_left_as_it_is(test: str) -> None:
    assert patch_for_llama_cpp(test) == test


@pytest.mark.parametrize(
    "text",
    [
        "<s>{{ x }}",
        "{% raw %}{{ x }}{% endraw %}",
        "{%+ raw %}{{ x }}{% endraw %}",
        "{{ 'only literals' }}",
        "{{ 'Use {{ name }} here' }}",  # an output inside a string literal is text
        "{# use {{ x }} for values, t in ('a', 'b') #}",  # a comment is left as it is
    ],
)
def test_a_template_not_led_by_a_tag_with_raw_or_nothing_to_rewrite_is_left_as_it_is(text: str) -> None:
    assert patch_for_llama_cpp(text) == text


def test_the_rewrite_renders_every_template_of_the_collection_as_it_was_in_python() -> None:
    renderer, changed = JinjaChatRenderer(), 0
    cases = [native_case(c) for c in ollama_tool_cases(None, True, True)]
    for _, text in templates():
        patched = patch_for_llama_cpp(text)
        changed += patched != text
        tokens = profile_for(text).tokens

        def render(template: str, tokens: Any = tokens) -> Any:
            return lambda messages, **options: renderer.render(template, tokens, messages, **options)

        for case in cases:
            assert jinja_outcome(render(patched), None, case) == jinja_outcome(render(text), None, case)
    assert changed > 60


def _text(name: str) -> str:
    return (templates_dir() / f"{name}.jinja").read_text(encoding="utf-8")


def test_the_candidates_put_the_template_as_it_is_before_its_rewrite() -> None:
    minicpm = _text("openbmb-MiniCPM5-1B")  # Ollama reads tools and thinking from it: on the chat template already
    assert gguf_templates(minicpm, "{{ .Prompt }}{{ .Thinking }}", ("completion", "thinking")) == (minicpm, patch_for_llama_cpp(minicpm))
    seed = _text("ByteDance-Seed-OSS")  # kept on a TEMPLATE that thinks without the hint
    found = gguf_templates(seed, "{{ .Prompt }}{{ .Thinking }}", ("completion", "thinking"))
    assert found == (THINKING_HINT + seed, THINKING_HINT + patch_for_llama_cpp(seed))
    assert gguf_templates(seed, "{{ .Prompt }}", ("completion", "tools")) == ()  # the TEMPLATE has tools: kept on it
