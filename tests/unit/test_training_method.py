"""Training-method profiles: detection from the checkpoint's files, --method, card wording, tags and name suffix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import UserInputError
from hubship.domain.training_method import METHODS, PROFILES, detect_training_method, method, parse_method

KTO_LOG = [{"loss": 0.5, "kl": 0.01, "rewards/chosen": 0.2, "rewards/margins": 0.1, "step": 1}]


def test_every_method_has_a_profile_with_wording_tags_and_a_name_suffix():
    assert set(METHODS) == {"sft", "kto", "dpo", "orpo", "grpo", "cpt", "unknown"}
    assert len(PROFILES) == len(METHODS)
    for profile in PROFILES:
        if profile.name != "unknown":
            assert profile.wording and profile.name in profile.tags and profile.repo_suffix == f"-{profile.name}"


@pytest.mark.parametrize(
    ("signals", "logged", "expected"),
    [
        (["lora", "trl", "kto"], [], "kto"),
        (["This model was trained with GRPO"], [], "grpo"),
        (["continued-pretraining"], [], "cpt"),
        ([], ["loss", "kl", "rewards/chosen", "rewards/margins"], "kto"),
        ([], ["loss", "rewards/margins", "rewards/accuracies"], "dpo"),
        ([], ["loss", "rewards/margins", "log_odds_ratio"], "orpo"),
        ([], ["loss", "kl", "reward_std", "completion_length"], "grpo"),
        ([], ["loss", "mean_token_accuracy"], "sft"),
        (["dpo"], ["kl"], "dpo"),  # the trainer's own words beat log heuristics
        (["transformers", "lora"], ["loss", "learning_rate"], "unknown"),
    ],
)
def test_detection(signals, logged, expected):
    assert detect_training_method(signals, logged) == expected


def test_default_name_gets_the_method_suffix_unless_it_names_the_method():
    assert method("kto").default_name("outputs") == "outputs-kto"
    assert method("kto").default_name("qwen-KTO-run") == "qwen-KTO-run"
    assert method("unknown").default_name("outputs") == "outputs"


def test_method_flag_is_checked():
    assert parse_method(" KTO ") == "kto"
    with pytest.raises(UserInputError, match="unknown training method 'ppo'; use one of"):
        parse_method("ppo")


def test_reader_detects_kto_from_trainer_state_when_the_readme_is_silent(container, checkpoint_copy):
    (checkpoint_copy / "README.md").unlink()
    (checkpoint_copy / "trainer_state.json").write_text(json.dumps({"global_step": 1, "log_history": KTO_LOG}))
    assert container.reader().read(checkpoint_copy).training_method == "kto"
    (checkpoint_copy / "trainer_state.json").write_text("{not json")
    assert container.reader().read(checkpoint_copy).training_method == "unknown"


def test_reader_ignores_the_base_model_tag(container, checkpoint_copy):
    readme = checkpoint_copy / "README.md"
    readme.write_text(
        readme.read_text().replace("- sft\n", "").replace("trained with SFT", "trained by us").replace("tiny-llama", "llama-dpo")
    )
    assert container.reader().read(checkpoint_copy).training_method == "unknown"


def test_method_flag_overrides_detection_and_reaches_the_card_and_the_name(container, checkpoint_copy, tmp_path):
    request = PublishRequest(
        checkpoint=str(checkpoint_copy), formats=("lora",), destinations=(f"dir:{tmp_path / 'out'}",), options={"method": "kto"}
    )
    result = container.execute_plan().execute(request)
    assert result.planned.checkpoint.training_method == "kto"
    card = (Path(result.published[0]) / "README.md").read_text()
    assert Path(result.published[0]).parent.name == "my-finetune-kto"
    assert "Kahneman-Tversky optimisation (KTO)" in card and "\n- kto\n" in card and "sft" not in card.lower()
