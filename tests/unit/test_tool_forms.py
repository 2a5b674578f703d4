"""Tool writings learned beyond tojson: a call's index in its message (Kimi K2), the Hermes and functionary tool forms, and the arguments
written with ensure_ascii, whose bytes no Go construct gives (named, not translated)."""

from __future__ import annotations

import json

import pytest

from hubship.domain.chat_calls import CALL_INDEX, cut_calls
from hubship.domain.chat_template import TemplateNotDerivable, ToolCall
from hubship.domain.go_tool_forms import html_escaped
from hubship.domain.tool_check import CALL, escaped_arguments, sort_keys
from hubship.domain.tool_facts import Prober
from hubship.domain.tool_forms import RICH, functionary, hermes, py_type, xml

A, B = ToolCall("fa", '{"x": 1}', "ida"), ToolCall("fb", '{"y": 2}', "idb")


def _kimi(calls) -> str:
    return "<s>" + "".join(f"<b>functions.{c.name}:{k}<a>{c.arguments}<e>" for k, c in enumerate(calls)) + "</s>"


def test_a_call_index_in_the_text_between_pieces_is_one_layout_with_the_index_marked():
    _, layout, between = cut_calls(_kimi([A, B]), [A, B], "M", 0)
    assert layout.seps == (f":{CALL_INDEX}<a>",) and between == ["<e><b>functions."]
    _, single, _ = cut_calls(_kimi([A]), [A], "M", 0)
    assert single.seps == (":0<a>",) and layout.first() == single


def test_a_constant_number_between_pieces_is_not_taken_for_an_index():
    text = "".join(f"[{c.name}:1]{c.arguments};" for c in (A, B))
    _, layout, _ = cut_calls(text, [A, B], "M", 0)
    assert layout.seps == (":1]",)


def test_the_hermes_form_writes_python_signatures_and_the_parameters_as_tojson():
    written = hermes(RICH)
    assert written.startswith('{"type": "function", "function": {"name": "hubshiprich", "description": "hubshiprich(hubshipa: str, ')
    assert "hubshipe: list[Union[]], hubshipf: dict, hubshipg: str, hubshiph: Union[str,int]) - HUBSHIPRICHX\n\n    Args:\n" in written
    assert written.endswith('"required": ["hubshipa"]}}')
    assert py_type("date") == "?" and py_type(None) == "Union[]"


def test_arguments_written_with_ensure_ascii_are_named_and_others_are_not():
    arguments = json.loads(sort_keys(CALL.arguments))
    escaped = f"<call>{json.dumps(arguments, ensure_ascii=True)}</call>"
    assert escaped_arguments(escaped, CALL) == (
        "the template writes non-ASCII characters in JSON as \\u escapes (tojson(ensure_ascii=True)), which Go's escapes match"
        " only up to U+FFFF: the arguments of get_weather that differ are city, options.note"
    )
    assert escaped_arguments(f"<call>{json.dumps(arguments, ensure_ascii=False)}</call>", CALL) is None


def test_a_tool_form_no_writer_knows_is_refused_naming_what_it_looks_like():
    def typescript(messages, *, tools=(), **mode):
        defs = "".join(f"type {json.loads(t)['function']['name']} = (_: {{}}) => any;\n" for t in tools)
        return defs + "".join(m.content for m in messages)

    with pytest.raises(TemplateNotDerivable, match=r"^the template writes tool definitions as TypeScript signatures, not as tojson"):
        Prober(typescript, None).form()


def test_the_functionary_form_html_escapes_all_but_its_own_literals():
    tool = json.dumps({"type": "function", "function": {"name": "f", "description": "a 'b' & <c>", "parameters": {}}})
    assert functionary(tool) == (
        "Use the function 'f' to 'a &#39;b&#39; &amp; &lt;c&gt;'\n"
        "{&#34;name&#34;: &#34;f&#34;, &#34;description&#34;: &#34;a &#39;b&#39; &amp; &lt;c&gt;&#34;, &#34;parameters&#34;: {}}"
    )


def test_html_escaped_passes_every_printed_piece_through_html_and_refuses_what_it_cannot_escape():
    text = '{{ "{" }}{{ printf "%q" $t.Name }}{{ if $k }}{{ template "hubship-json" $v }}{{ end }}{{ $first = false }}'
    assert html_escaped(text) == (
        '{{ html "{" }}{{ html (printf "%q" $t.Name) }}{{ if $k }}{{ template "hubship-json-html" $v }}{{ end }}{{ $first = false }}'
    )
    with pytest.raises(ValueError, match="unescaped actions"):
        html_escaped("{{ $t.Function.Name }}")


def test_the_xml_form_writes_each_property_then_the_other_keys():
    written = xml(RICH)
    assert written.startswith("<function>\n<name>hubshiprich</name>\n<description>HUBSHIPRICHX</description>\n<parameters>\n<parameter>")
    assert (
        '<name>hubshipe</name>\n<type>array</type>\n<description>HUBSHIPDESCE</description>\n<items>{"type": "string"}</items>' in written
    )
    assert "<type>['string', 'integer']</type>" in written and '<enum>["x", "y"]</enum>' in written
    assert written.endswith('</parameter>\n<required>["hubshipa"]</required>\n</parameters>\n</function>')
