"""The two-step gate's rules, pure: which breached bounds the base yardstick may loosen and by how much, what the card
and the gate message say, which threshold names exist, and what an Ollama model carries through the gate."""

from __future__ import annotations

import pytest

from hubship.application.quality_check import with_carried
from hubship.domain.errors import UserInputError
from hubship.domain.quality import breaches, check_threshold_names
from hubship.domain.quality_gate import gate_message
from hubship.domain.quality_table import quality_section, yardstick_line
from hubship.domain.yardstick import EXACT_CEILING, LOSSY_CEILING, breached_defaults, ceiling_factor, relaxed

DEFAULTS = {"mean_kl": {"max": 0.1}, "top1_agreement": {"min": 0.85}, "chat_token_mismatches": {"max": 0}}


def test_only_breached_default_loss_bounds_are_loosened_never_tightened() -> None:
    metrics = {"mean_kl": 0.17, "top1_agreement": 0.9, "chat_token_mismatches": 1}
    assert breached_defaults(metrics, DEFAULTS, user_set=()) == ["mean_kl"]  # a chat proof is correctness, not loss
    loosened, capped = relaxed(metrics, DEFAULTS, (), {"mean_kl": 0.15, "top1_agreement": 0.99})
    assert loosened["mean_kl"] == {"max": pytest.approx(0.15 * 1.5 + 0.1 * 0.1)} and capped == []
    assert loosened["top1_agreement"] == {"min": 0.85}, "a bound that was not breached stays"
    assert relaxed(metrics, DEFAULTS, (), {"mean_kl": 0.01})[0]["mean_kl"] == {"max": 0.1}, "never tighter than the default"
    assert relaxed(metrics, DEFAULTS, ("mean_kl",), {"mean_kl": 0.15})[0]["mean_kl"] == {"max": 0.1}, "a user's bound is final"
    low = {"mean_kl": 0.01, "top1_agreement": 0.7}
    assert relaxed(low, DEFAULTS, (), {"top1_agreement": 0.72})[0]["top1_agreement"] == {"min": pytest.approx(0.67)}


BF16_MERGE = {"max_abs_diff": {"max": 1.0}, "mean_kl": {"max": 1e-3}}  # merged-16bit's defaults in bf16


@pytest.mark.parametrize("kl", [2e-3, 5e-3, 9e-3])
def test_a_broken_bf16_merge_fails_beside_a_lossless_base(kl) -> None:
    """The slack is a share of the format's own default: a base whose merge loses nothing (rounding only) cannot
    loosen merged-16bit's 1e-3 to 1e-2, as an absolute 0.01-nat slack did."""
    bounds, _ = relaxed({"mean_kl": kl, "max_abs_diff": 0.5}, BF16_MERGE, (), {"mean_kl": 0.0, "max_abs_diff": 0.0}, EXACT_CEILING)
    assert bounds["mean_kl"] == {"max": 1e-3}
    assert breaches({"mean_kl": kl}, bounds) == [f"mean_kl={kl:.4g} > 0.001"]


@pytest.mark.parametrize(
    ("defaults", "metric", "value", "base", "factor", "bound", "held"),
    [
        ({"mean_kl": {"max": 0.1}}, "mean_kl", 0.32, 0.3, LOSSY_CEILING, 0.3 * 1.5 + 0.01, False),  # SmolLM2-135M's nf4: passes
        ({"mean_kl": {"max": 0.1}}, "mean_kl", 0.6, 0.6, LOSSY_CEILING, 0.5, True),  # both broken alike: held at 5x
        (BF16_MERGE, "mean_kl", 5e-3, 5e-3, EXACT_CEILING, 2e-3, True),  # a merge: at most 2x
        (BF16_MERGE, "mean_kl", 1.2e-3, 1e-3, EXACT_CEILING, 1e-3 * 1.5 + 1e-4, False),
        ({"top1_near": {"min": 0.85}}, "top1_near", 0.2, 0.2, LOSSY_CEILING, 1 - 0.15 * 5, True),  # a minimum: 5x the shortfall
    ],
)
def test_the_ceiling_caps_what_a_base_may_loosen(defaults, metric, value, base, factor, bound, held) -> None:
    bounds, capped = relaxed({metric: value}, defaults, (), {metric: base}, factor)
    assert next(iter(bounds[metric].values())) == pytest.approx(bound)
    assert capped == ([metric] if held else [])


def test_the_ceiling_is_per_relation() -> None:
    assert ceiling_factor("merge") == EXACT_CEILING == 2.0 and ceiling_factor("quantized") == LOSSY_CEILING == 5.0


def test_past_the_ceiling_the_gate_message_says_so_and_names_the_ways_out() -> None:
    base = {"format": "merged-4bit", "metrics": {"mean_kl": 0.6}, "defaults": {"mean_kl": {"max": 0.1}}}
    record = {
        "metrics": {"mean_kl": 0.62},
        "thresholds": {"mean_kl": {"max": 0.5}},
        "base": {**base, "ceiling": {"factor": 5.0, "metrics": ["mean_kl"]}},
    }
    message = gate_message({"merged-4bit": record}, {"merged-4bit": {}})
    assert "merged-4bit: mean_kl=0.62 > 0.5 (on the base model: mean_kl=0.6; past the yardstick's ceiling: it loosens mean_kl at" in message
    assert "at most 5x the default" in message
    assert "--threshold merged-4bit.mean_kl=0.62" in message and message.endswith("or pass --accept-quality-loss to publish anyway")


def test_the_card_and_the_gate_message_say_what_the_base_loses() -> None:
    base = {"format": "gguf-q4_k_m", "model": "acme/tiny", "metrics": {"mean_kl": 0.15}, "defaults": {"mean_kl": {"max": 0.1}}}
    passed = {"metrics": {"mean_kl": 0.17}, "thresholds": {"mean_kl": {"max": 0.235}}, "base": base}
    line = yardstick_line(passed)
    assert line.startswith("q4_k_m loses as much here as it does on the base model acme/tiny (mean_kl 0.17 here, 0.15 on the base)")
    assert "≤ 0.1 by default, ≤ 0.235 beside the base" in line
    section = quality_section(passed)
    assert (
        "| figure | what it measures | value | on the base | threshold | pass |" in section
        and "| 0.17 | 0.15 | ≤ 0.235 | pass |" in section
    )
    failed = {**passed, "metrics": {"mean_kl": 0.44}}
    assert "loses clearly more here than on the base model" in yardstick_line(failed)
    message = gate_message({"gguf-q4_k_m": failed}, {"gguf-q4_k_m": {}})
    assert "(gguf-q4_k_m: mean_kl=0.44 > 0.235 (on the base model: mean_kl=0.15));" in message
    none = {**failed, "base": {"unavailable": "the base model is itself quantized (4-bit)"}}
    assert yardstick_line(none) == "No base yardstick (the base model is itself quantized (4-bit)): the absolute thresholds decide alone."
    assert "(no base yardstick: the base model is itself quantized (4-bit))" in gate_message({"merged-4bit": none}, {"merged-4bit": {}})
    assert yardstick_line({"metrics": {"mean_kl": 0.01}}) == ""


MEASURED = {"merged-4bit": ("mean_kl", "top1_agreement"), "lora": (), "gguf-q8_0": ("mean_kl",), "ollama-q8_0": ("chat_token_mismatches",)}
LISTED = ("gguf-q8_0", "lora", "merged-4bit")


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        (
            {"merged-4bit": {"mean_kll": 0.1}},
            "which merged-4bit does not measure; did you mean 'mean_kl'? merged-4bit measures: mean_kl, top1_agreement",
        ),
        (
            {"merged-4bt": {"mean_kl": 0.1}},
            "unknown format 'merged-4bt'; did you mean 'merged-4bit'? formats with thresholds: gguf-q8_0, merged-4bit",
        ),
        ({"nosuch": {"mean_kl": 0.1}}, "unknown format 'nosuch'; formats with thresholds: gguf-q8_0, merged-4bit"),
        ({"lora": {"mean_kl": 0.1}}, "lora measures nothing a threshold can bound"),
    ],
)
def test_threshold_names_are_checked(thresholds, message) -> None:
    with pytest.raises(UserInputError, match=message.replace("?", r"\?").replace("(", r"\(")):
        check_threshold_names(thresholds, MEASURED, LISTED)


def test_known_threshold_names_pass_internal_ones_included() -> None:
    check_threshold_names({"merged-4bit": {"top1_agreement": 0.9}, "ollama-q8_0": {"chat_token_mismatches": 0}}, MEASURED, LISTED)


def test_an_ollama_record_carries_its_gguf_figures() -> None:
    gguf = {
        "metrics": {"mean_kl": 0.05, "chat_token_mismatches": 0},
        "thresholds": {"mean_kl": {"max": 0.12}},
        "breaches": [],
        "passed": True,
    }
    own = {"metrics": {"template_check": "passed", "chat_token_mismatches": 0}, "thresholds": {}, "breaches": [], "passed": True}
    merged = with_carried(own, {"gguf-q8_0": {**gguf, "base": {"metrics": {"mean_kl": 0.04}}}})
    assert merged["metrics"] == {"mean_kl": 0.05, "chat_token_mismatches": 0, "template_check": "passed"}
    assert merged["thresholds"] == {"mean_kl": {"max": 0.12}} and merged["passed"] and merged["base"] == {"metrics": {"mean_kl": 0.04}}
    assert with_carried(own, {"gguf-q8_0": {**gguf, "breaches": ["mean_kl=1 > 0.12"], "passed": False}})["passed"] is False
