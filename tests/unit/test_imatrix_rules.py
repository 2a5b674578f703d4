"""The imatrix rules (which quantizations use it, which variants are built and kept, on which half of the probe)
and calibration parsing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hubship.application.formats.gguf_quant_variants import build_variants
from hubship.domain.calibration import MIN_BYTES, parse_calibration
from hubship.domain.errors import UserInputError
from hubship.domain.gguf_quants import QUANTS
from hubship.domain.imatrix import (
    FIRST_HALF,
    HELD_OUT,
    SECOND_HALF,
    WITH,
    WITHOUT,
    ImatrixOption,
    choose,
    mistyped_mode,
    parse_imatrix_option,
    probe_halves,
    uses_imatrix,
    variants,
)

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


@pytest.mark.parametrize(("typed", "meant"), [("autp", "auto"), ("aut", "auto"), ("of", "off"), ("onn", "on"), ("none", "off")])
def test_a_bare_word_close_to_a_mode_is_taken_for_a_typo(typed, meant):
    assert mistyped_mode(typed) == meant


@pytest.mark.parametrize("typed", ["my.imatrix.gguf", "runs/autp", "imatrix", "auto"])
def test_a_path_a_far_word_or_a_mode_is_no_typo(typed):
    assert mistyped_mode(typed) is None


def _figures(first: float, second: float, top1: tuple[float, float]) -> dict[str, float]:
    """What the GGUF verifier reports of one variant: the whole probe, and each half."""
    return {
        "mean_kl": (first + second) / 2,
        "top1_agreement": sum(top1) / 2,
        "bits_per_weight": 3.5,
        "mean_kl_first_half": first,
        "mean_kl_second_half": second,
        "top1_agreement_first_half": top1[0],
        "top1_agreement_second_half": top1[1],
    }


def test_auto_chooses_on_the_first_half_and_publishes_the_second_halfs_figures(tmp_path):
    """The variant that looks better on the probe is partly lucky: its figure there is biased low. The choice sees
    the first half only; what is published is the kept file on the second half, which the choice did not see."""
    measured = {WITHOUT: _figures(0.20, 0.18, (0.80, 0.82)), WITH: _figures(0.15, 0.24, (0.86, 0.79))}
    imatrix = tmp_path / "m.imatrix.gguf"
    imatrix.write_bytes(b"GGUF")
    out = tmp_path / "out"
    out.mkdir()

    def make(folder: Path, matrix: Path | None) -> tuple[Path, ...]:
        made = folder / "m.Q3_K_M.gguf"
        made.write_text(WITH if matrix else WITHOUT)
        return (made,)

    def measure(files: tuple[Path, ...]) -> dict[str, float]:
        return measured[files[0].read_text()]

    ctx = SimpleNamespace(out_dir=out)
    record, notes = build_variants(ctx, (WITHOUT, WITH), imatrix, {"source": "text"}, make, measure)  # type: ignore[arg-type]
    assert (out / "m.Q3_K_M.gguf").read_text() == WITH  # 0.15 < 0.20 on the first half
    assert record["mean_kl"] == 0.24 and record["top1_agreement"] == 0.79  # the kept file on the second half
    assert record["mean_kl_with_imatrix"] == 0.15 and record["mean_kl_without_imatrix"] == 0.20  # what the choice saw
    assert record["mean_kl_probe"] == HELD_OUT and record["bits_per_weight"] == 3.5
    assert not [k for k in record if k.endswith(("_first_half", "_second_half"))]
    assert "0.15 with the imatrix, 0.2 without" in notes[-1] and "second half, which the choice did not see" in notes[-1]


def test_one_variant_publishes_its_whole_probe_figures(tmp_path):
    figures = _figures(0.10, 0.30, (0.9, 0.7))

    def make(folder: Path, matrix: Path | None) -> tuple[Path, ...]:
        (folder / "m.IQ2_XS.gguf").write_bytes(b"")
        return (folder / "m.IQ2_XS.gguf",)

    imatrix = tmp_path / "m.imatrix.gguf"
    imatrix.write_bytes(b"GGUF")
    (tmp_path / "out").mkdir()
    ctx = SimpleNamespace(out_dir=tmp_path / "out")
    record, _ = build_variants(ctx, (WITH,), imatrix, {}, make, lambda files: figures)  # type: ignore[arg-type]
    assert record["mean_kl"] == record["mean_kl_with_imatrix"] == 0.20 and record["top1_agreement"] == 0.8
    assert "mean_kl_probe" not in record and "mean_kl_without_imatrix" not in record


def test_the_probe_halves_cover_every_position_once():
    halves = probe_halves(255)
    assert list(halves[FIRST_HALF]) + list(halves[SECOND_HALF]) == list(range(255)) and len(halves[FIRST_HALF]) == 127
