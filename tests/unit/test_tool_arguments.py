"""How a template writes tool-call arguments one by one (Qwen3.5, GLM, MiniMax), learned from one render."""

from __future__ import annotations

import json

from hubship.domain.chat_calls import ARG_PROBE, ArgForm, arg_form, cut_calls
from hubship.domain.chat_template import ToolCall


def _render(mid: str, inter: str, value) -> str:
    return "<call>" + inter.join(f"{k}{mid}{value(v)}" for k, v in ARG_PROBE.items()) + "</call>"


def test_python_values_one_by_one_are_learned_and_written_back():
    qwen35 = _render(
        ">\n", "\n</parameter>\n<parameter=", lambda v: v if isinstance(v, str) else str(v) if v in (True, None) else json.dumps(v)
    )
    form = arg_form(qwen35)
    assert form == ArgForm(">\n", "\n</parameter>\n<parameter=", json_strings=False, python_scalars=True)
    assert form.text(json.dumps(ARG_PROBE)) in qwen35


def test_json_values_and_an_unknown_writing_are_told_apart():
    glm = _render("</arg_key><arg_value>", "</arg_value><arg_key>", json.dumps)
    assert arg_form(glm) == ArgForm("</arg_key><arg_value>", "</arg_value><arg_key>", json_strings=True, python_scalars=False)
    assert arg_form(glm.replace("hubshipargc", "c")) is None  # a key it does not write as given


def test_a_call_is_cut_by_its_layout_with_its_id_between_name_and_arguments():
    call = ToolCall("fn", json.dumps({"a": 1}), "abcdefghi")
    text = 'HUBSHIPMSG0X[TOOL_CALLS]fn[CALL_ID]abcdefghi[ARGS]{"a": 1}</s>HUBSHIPMSG2X'
    cut, layout, between = cut_calls(text, (call,), "HUBSHIPMSG1X", len("HUBSHIPMSG0X"))
    assert cut == "HUBSHIPMSG0X[TOOL_CALLS]HUBSHIPMSG1X</s>HUBSHIPMSG2X" and between == []
    assert layout.pieces == ("name", "id", "args") and layout.seps == ("[CALL_ID]", "[ARGS]")
