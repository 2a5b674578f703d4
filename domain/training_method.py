"""Training methods hubship recognises in a checkpoint, and what each says about the published model.

A profile supplies the card's wording, the card tags and the suffix of the default publish name.
Adding a method is one entry in `PROFILES`; its place in the tuple is its precedence when
trainer logs look like more than one method (ORPO and KTO also log DPO's reward metrics).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.suggest import did_you_mean


@attrs.frozen(kw_only=True)
class TrainingMethod:
    """One method's profile.

    `aliases` are words a trainer's README uses for it (a tag, or "trained with X");
    `log_keys` are metrics only this method's trainer logs in `trainer_state.json`.
    """

    name: str
    title: str
    wording: str
    tags: tuple[str, ...]
    repo_suffix: str = ""
    aliases: tuple[str, ...] = ()
    log_keys: tuple[str, ...] = ()

    def default_name(self, stem: str) -> str:
        """`stem` plus this method's suffix, unless the stem already names the method."""
        words = re.split(r"[^a-z0-9]+", stem.lower())
        if not self.repo_suffix or self.name in words or any(a in words for a in self.aliases):
            return stem
        return f"{stem}{self.repo_suffix}"


PROFILES: tuple[TrainingMethod, ...] = (
    TrainingMethod(
        name="orpo",
        title="ORPO",
        wording="odds-ratio preference optimisation (ORPO)",
        tags=("orpo", "trl"),
        repo_suffix="-orpo",
        log_keys=("log_odds_ratio", "log_odds_chosen"),
    ),
    TrainingMethod(
        name="grpo",
        title="GRPO",
        wording="group relative policy optimisation (GRPO)",
        tags=("grpo", "trl"),
        repo_suffix="-grpo",
        log_keys=("reward_std", "completion_length", "completions/mean_length", "frac_reward_zero_std"),
    ),
    TrainingMethod(
        name="kto",
        title="KTO",
        wording="Kahneman-Tversky optimisation (KTO)",
        tags=("kto", "trl"),
        repo_suffix="-kto",
        log_keys=("kl", "count/chosen", "rewards/chosen_sum"),
    ),
    TrainingMethod(
        name="dpo",
        title="DPO",
        wording="direct preference optimisation (DPO)",
        tags=("dpo", "trl"),
        repo_suffix="-dpo",
        log_keys=("rewards/margins", "rewards/accuracies"),
    ),
    TrainingMethod(
        name="sft",
        title="SFT",
        wording="supervised fine-tuning (SFT)",
        tags=("sft", "trl"),
        repo_suffix="-sft",
        log_keys=("mean_token_accuracy",),
    ),
    TrainingMethod(
        name="cpt",
        title="CPT",
        wording="continued pre-training (CPT)",
        tags=("cpt", "continued-pretraining"),
        repo_suffix="-cpt",
        aliases=("pretraining", "pt"),
    ),
    TrainingMethod(name="unknown", title="fine-tune", wording="fine-tuning", tags=()),
)
METHODS: dict[str, TrainingMethod] = {m.name: m for m in PROFILES}


def _named(word: str) -> str | None:
    for profile in PROFILES:
        if profile.name != "unknown" and (word == profile.name or word in profile.aliases):
            return profile.name
    return None


def detect_training_method(signals: Iterable[str], log_keys: Iterable[str] = ()) -> str:
    """The method a trainer's own words name (README tags, "trained with SFT"), else the one its logged metrics
    identify (`trainer_state.json` log history), else "unknown"."""
    for signal in signals:
        for word in re.findall(r"[a-z]+", signal.lower()):
            found = _named(word)
            if found:
                return found
    logged = set(log_keys)
    for profile in PROFILES:
        if logged.intersection(profile.log_keys):
            return profile.name
    return "unknown"


def method(name: str) -> TrainingMethod:
    """The profile named `name`; an unrecognised name reads as "unknown"."""
    return METHODS.get(name, METHODS["unknown"])


def parse_method(name: str) -> str:
    """A `--method` value, checked: one of the known names (case-insensitive), or a UserInputError listing them."""
    key = name.strip().lower()
    if key not in METHODS:
        raise UserInputError(f"unknown training method {name!r}; {did_you_mean(key, METHODS, 'use one of ' + ', '.join(METHODS))}")
    return key
