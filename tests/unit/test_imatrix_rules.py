"""The imatrix rules (which quantizations use it, which variants are built and kept) and calibration parsing."""

from __future__ import annotations

import json

import pytest

from hubship.domain.calibration import MIN_BYTES, parse_calibration
from hubship.domain.errors import UserInputError
from hubship.domain.gguf_quants import QUANTS
from hubship.domain.imatrix import WITH, WITHOUT, ImatrixOption, choose, parse_imatrix_option, uses_imatrix, variants

Q = {q.name: q for q in QUANTS}
PROSE = "A sentence of plain English text for calibration. " * 40


def test_low_bit_types_are_the_3_bit_2_bit_and_iq_ones():
    low = {q.name for q in QUANTS if q.low_bit}
    assert {"Q3_K_M", "Q2_K", "IQ3_XXS", "IQ4_XS", "IQ2_XS", "IQ1_S", "Q2_K_S"} <= low
    assert not low & {"F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0"}
    assert all(q.low_bit for q in QUANTS if q.needs_imatrix)


@pytest.mark.parametrize(
    ("value", "mode", "path"),
    [(None, "auto", None), ("AUTO", "auto", None), ("on", "on", None), ("off", "off", None), ("x.gguf", "file", "x.gguf")],
)
def test_imatrix_option(value, mode, path):
    assert parse_imatrix_option(value) == ImatrixOption(mode=mode, path=path)


def test_auto_measures_low_bit_k_quants_both_ways_and_leaves_q4_and_up_alone():
    auto = parse_imatrix_option("auto")
    assert variants(Q["Q3_K_M"], auto, available=True, measured=True) == (WITHOUT, WITH)
    assert variants(Q["IQ4_XS"], auto, available=True, measured=True) == (WITHOUT, WITH)
    assert variants(Q["IQ2_XS"], auto, available=True, measured=True) == (WITH,)  # cannot be made without
    assert variants(Q["IQ3_XXS"], auto, available=True, measured=True) == (WITH,)  # nor can IQ3_XXS in this llama.cpp
    assert variants(Q["Q3_K_M"], auto, available=True, measured=False) == (WITH,)  # --verify off: llama.cpp's advice
    assert variants(Q["Q3_K_M"], auto, available=False, measured=True) == (WITHOUT,)  # no tools: as before
    assert not uses_imatrix(Q["Q4_K_M"], auto) and variants(Q["Q4_K_M"], auto, available=True, measured=True) == (WITHOUT,)


def test_on_and_a_file_force_the_imatrix_everywhere_and_off_nowhere():
    for option in (parse_imatrix_option("on"), parse_imatrix_option("my.imatrix.gguf")):
        assert uses_imatrix(Q["Q4_K_M"], option) and variants(Q["Q3_K_M"], option, available=True, measured=True) == (WITH,)
    off = parse_imatrix_option("off")
    assert not uses_imatrix(Q["Q2_K"], off) and variants(Q["Q2_K"], off, available=True, measured=True) == (WITHOUT,)


def test_the_lower_kl_wins_and_a_tie_keeps_the_file_without():
    assert choose({WITHOUT: 0.17, WITH: 0.13}) == WITH
    assert choose({WITHOUT: 0.03, WITH: 0.04}) == WITHOUT
    assert choose({WITHOUT: 0.1, WITH: 0.1}) == WITHOUT


def test_plain_text_and_chat_jsonl_calibration():
    assert parse_calibration(PROSE.encode(), "notes.txt").texts == (PROSE,)
    chat = {"messages": [{"role": "user", "content": "Hi " * 300}, {"role": "assistant", "content": "Hello " * 300}]}
    lines = [json.dumps(chat), "", json.dumps({"text": PROSE})]
    parsed = parse_calibration("\n".join(lines).encode(), "data.jsonl")
    assert parsed.order == (("chat", 0), ("text", 0)) and parsed.chats[0][1].role == "assistant"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"\xff\xfe" + PROSE.encode(), "x.txt", "is not UTF-8"),
        (b"short text", "x.txt", f"at least {MIN_BYTES} tokens"),
        (b'{"messages": [{"role": "user", "content": "a"}]}\n{"messages": [broken', "x.jsonl", "x.jsonl line 2 is not JSON"),
        (b'{"messages": [{"role": "user", "content": 3}]}', "x.jsonl", "x.jsonl line 1: each message needs"),
        (b'{"prompt": "a", "completion": "b"}', "x.jsonl", 'has neither "messages" nor "text"'),
        (b"\n\n", "x.jsonl", "holds no calibration records"),
    ],
)
def test_a_file_that_is_not_calibration_text_is_one_user_error(data, name, message):
    with pytest.raises(UserInputError, match=message):
        parse_calibration(data, name)
