"""The pure side of the token-level proof: how a difference is named, what the manifest and card get, the gate."""

from __future__ import annotations

import pytest

from hubship.application.chat_proof import gate
from hubship.domain.chat_proof import (
    PROOF_CONVERSATIONS,
    Completion,
    RuntimeVocab,
    SpecialToken,
    TokenProof,
    bos_only,
    first_difference,
)
from hubship.domain.errors import QualityGateFailed

BOS = 1


def test_only_a_single_leading_bos_added_or_dropped_is_a_bos_only_difference():
    assert bos_only([5, 6], [BOS, 5, 6], BOS) and bos_only([BOS, 5, 6], [5, 6], BOS)
    assert not bos_only([BOS, 5, 6], [BOS, BOS, 5, 6], BOS)  # a doubled BOS is never only that
    assert not bos_only([5, 6], [BOS, 5, 7], BOS) and not bos_only([5, 6], [BOS, 5, 6], None)


def test_a_runtime_vocab_says_whether_it_adds_eos_and_defaults_to_not():
    assert not RuntimeVocab(add_bos=True, bos="<s>", eos="</s>", template="t").add_eos


@pytest.mark.parametrize(
    ("expected", "actual", "said"),
    [
        ([5, 6], [BOS, 5, 6], "the runtime adds a BOS token the chat template does not write"),
        ([BOS, 5, 6], [5, 6], "the runtime drops the BOS token the chat template writes"),
        ([BOS, 5, 6], [BOS, BOS, 5, 6], "the prompt starts with two BOS tokens"),
        ([BOS, 5, 6, 7], [BOS, 5, 9, 7], "ids differ at position 2: training [6, 7] vs runtime [9, 7]"),
    ],
)
def test_a_difference_is_named_with_the_bos_trouble_first(expected, actual, said):
    assert first_difference(expected, actual, BOS) == said


def test_a_passed_proof_gives_figures_notes_and_thresholds():
    proof = TokenProof(
        runtime="gguf", conversations=7, end_of_turn=(SpecialToken("<|im_end|>", 4, True),), completion=Completion("stop", 5), add_bos=True
    )
    part = proof.verification()
    assert proof.passed and part["warnings"] == []
    assert part["metrics"]["chat_token_check"] == "passed" and part["metrics"]["chat_completion_finish"] == "stop"
    assert set(part["thresholds"]) == {"chat_token_mismatches", "chat_end_of_turn_not_eog"}
    assert part["notes"][0].startswith("chat format proven at token level on 7 conversations")
    assert "adding the BOS token itself" in part["notes"][0] and "(EOG)" in part["notes"][1] and "`stop` after 5" in part["notes"][2]
    gate(proof, "the GGUF")


def test_a_failed_proof_warns_and_fails_the_gate_in_one_line():
    proof = TokenProof(
        runtime="ollama",
        conversations=7,
        mismatches=("single turn: the prompt starts with two BOS tokens",),
        end_of_turn=(SpecialToken("<|turn_end|>", 9, False),),
        not_stop=("<|turn_end|>",),
    )
    part = proof.verification()
    assert part["metrics"]["chat_token_mismatches"] == 1 and part["metrics"]["chat_end_of_turn_not_stop"] == 1
    assert len(part["warnings"]) == 3 and "except where the warnings say" in part["notes"][0]
    with pytest.raises(QualityGateFailed, match=r"two BOS tokens; and 2 more\); fix the chat template") as failed:
        gate(proof, "the Ollama model")
    assert failed.value.exit_code == 3 and "\n" not in str(failed.value)


def test_a_skipped_proof_says_why_and_gates_nothing():
    proof = TokenProof(runtime="ollama", skipped="Go is not installed")
    assert proof.verification() == {
        "metrics": {"chat_token_check": "skipped: Go is not installed"},
        "thresholds": {},
        "notes": ["the chat format was not proven at token level (Go is not installed)"],
        "warnings": [],
    }
    gate(proof, "the Ollama model")
    no_marker = TokenProof(runtime="gguf", conversations=7).notes()
    assert "no end-of-turn marker" in no_marker[1]


def test_the_proof_conversations_all_ask_for_a_generation():
    assert len(PROOF_CONVERSATIONS) == 7 and all(c[-1].role == "user" for c in PROOF_CONVERSATIONS.values())
