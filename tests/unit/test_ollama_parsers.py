"""Ollama's glm-4.7, qwen3-coder, nemotron-3-nano and laguna parsers as hubship models them (domain/ollama_parsers.py, from
Ollama's model/parsers/glm46.go, glm47.go, qwen3coder.go's parseValue, nemotron3nano.go, laguna.go): what each reads back
from a call written one argument at a time, typed by the tool, and how each assumes the prompt ends."""

from __future__ import annotations

import json

import pytest

from hubship.domain.ollama_model import OllamaModel
from hubship.domain.ollama_parsers import (
    GLM47,
    LAGUNA,
    NEMOTRON3_NANO,
    PARSERS,
    QWEN3_CODER,
    THINKING,
    glm_calls,
    laguna_calls,
    opens_thinking,
    parse_value,
    qwen_calls,
)
from hubship.domain.tool_check import CALL, WEATHER


def _glm(name: str, args: dict[str, object], nl: str = "") -> str:
    """A call as GLM writes it (`nl`: the newline Laguna puts after the name and each pair, and after the call)."""
    pairs = "".join(
        f"<arg_key>{k}</arg_key>{nl}<arg_value>{v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}</arg_value>{nl}"
        for k, v in args.items()
    )
    return f"<tool_call>{name}{nl}{pairs}</tool_call>{nl}"


def test_a_call_written_as_glm_writes_it_is_read_back_typed_by_the_tool():
    args = json.loads(CALL.arguments)
    text = "</think>Let me look." + _glm(CALL.name, args) + _glm("search_web", {"query": "a & <b>"})
    assert glm_calls(text, [WEATHER]) == [(CALL.name, args), ("search_web", {"query": "a & <b>"})]


def test_an_undeclared_list_argument_comes_back_as_text():
    """The proof tool declares every argument its call passes: an undeclared one is read as a string."""
    tool = json.dumps({"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}})
    assert glm_calls(_glm("f", {"tags": ["a", 1]}), [tool]) == [("f", {"tags": '["a", 1]'})]


@pytest.mark.parametrize(
    ("raw", "types", "value"),
    [
        ("\n12\n", ["integer"], 12),
        ("12.0", ["number"], 12),
        ("1.5", ["number"], 1.5),
        ("x", ["integer"], "x"),
        ("NULL", ["string"], None),
        ("yes", ["boolean"], False),
        ("123", ["string", "integer"], 123),
        ("[1]", ["array"], [1]),
        ("{oops", ["object"], "{oops"),
        ("plain", [], "plain"),
    ],
)
def test_values_are_typed_as_ollamas_parse_value_types_them(raw, types, value):
    assert parse_value(raw, types) == value and type(parse_value(raw, types)) is type(value)


def test_a_call_that_is_not_well_formed_is_not_read():
    assert glm_calls("<tool_call>f<arg_key>a</arg_key></tool_call>", [WEATHER]) is None
    assert glm_calls("<tool_call><arg_key>a</arg_key><arg_value>1</arg_value></tool_call>", [WEATHER]) is None


def test_the_parser_reads_thinking_from_the_start_unless_thinking_is_off_and_the_modelfile_names_it():
    assert opens_thinking(None) and opens_thinking(True) and not opens_thinking(False)
    model = OllamaModel(model_file="m.gguf", template="{{ .Prompt }}", parser=GLM47)
    assert "\nPARSER glm-4.7\n" in model.modelfile() and model.create_fields()["parser"] == GLM47
    assert "parser" not in OllamaModel(model_file="m.gguf").create_fields()


def _qwen(name: str, args: dict[str, object]) -> str:
    pairs = "".join(
        f"<parameter={k}>\n{v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}\n</parameter>\n" for k, v in args.items()
    )
    return f"<tool_call>\n<function={name}>\n{pairs}</function>\n</tool_call>"


def test_a_call_written_as_qwen3_coder_writes_it_is_read_back_typed_by_the_tool():
    args = json.loads(CALL.arguments)
    text = "Let me look.\n" + _qwen(CALL.name, args) + _qwen("search_web", {"query": 'a & <b> "c"'})
    assert qwen_calls(text, [WEATHER]) == [(CALL.name, args), ("search_web", {"query": 'a & <b> "c"'})]
    assert qwen_calls("<tool_call>\n<function=f>\n<parameter=x>\n1\n</function>\n</tool_call>", [WEATHER]) is None


def test_nemotron_3_nano_reads_qwen3_coders_calls_and_thinks_from_the_start_unless_thinking_is_off():
    nemotron = PARSERS[NEMOTRON3_NANO]
    args = json.loads(CALL.arguments)
    assert nemotron.calls("<think>\nhm\n</think>\n" + _qwen(CALL.name, args), [WEATHER]) == [(CALL.name, args)]
    prompt = "<|im_start|>assistant\n"
    for think in (None, True):
        assert nemotron.ends(prompt + "<think>\n", think) and nemotron.ends(prompt + "<think>", think)
        assert not nemotron.ends(prompt + "<think></think>", think) and not nemotron.ends(prompt, think)
    assert nemotron.ends(prompt + "<think></think>", False) and nemotron.ends(prompt + "<think>\n\n</think>\n\n", False)
    assert not nemotron.ends(prompt + "<think>\n", False) and not nemotron.ends(prompt, False)


def test_laguna_reads_glms_calls_without_xml_typed_by_the_tool():
    """Unlike glm-4.7, laguna reads a value as written: `&amp;` stays `&amp;`; a call written as JSON is read too."""
    args = json.loads(CALL.arguments)
    text = "</think>\nLet me look.\n" + _glm(CALL.name, args, "\n") + _glm("search_web", {"query": "a &amp; <b>"}, "\n")
    assert laguna_calls(text, [WEATHER]) == [(CALL.name, args), ("search_web", {"query": "a &amp; <b>"})]
    assert laguna_calls('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>', [WEATHER]) == [("f", {"x": 1})]
    assert laguna_calls('<tool_call>{"arguments": {}}</tool_call>', [WEATHER]) is None


def test_laguna_thinks_only_when_thinking_is_on():
    laguna = PARSERS[LAGUNA]
    assert laguna.ends("<assistant>\n<think>", True) and not laguna.ends("<assistant>\n</think>", True)
    for think in (None, False):
        assert laguna.ends("<assistant>\n</think>", think) and not laguna.ends("<assistant>\n<think>", think)


def test_the_parsers_that_give_thinking():
    assert {GLM47, NEMOTRON3_NANO, LAGUNA} == THINKING and PARSERS[QWEN3_CODER].ends is None
