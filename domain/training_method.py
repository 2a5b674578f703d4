"""Training methods hubship recognises in a checkpoint, and what each says about the model."""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs


@attrs.frozen(kw_only=True)
class TrainingMethod:
    name: str
    title: str
    wording: str
    tags: tuple[str, ...]
    repo_suffix: str = ""


METHODS: dict[str, TrainingMethod] = {
    m.name: m
    for m in (
        TrainingMethod(name="sft", title="SFT", wording="supervised fine-tuning (SFT)", tags=("sft",)),
        TrainingMethod(name="kto", title="KTO", wording="Kahneman-Tversky optimisation (KTO)", tags=("kto",)),
        TrainingMethod(name="dpo", title="DPO", wording="direct preference optimisation (DPO)", tags=("dpo",)),
        TrainingMethod(name="orpo", title="ORPO", wording="odds-ratio preference optimisation (ORPO)", tags=("orpo",)),
        TrainingMethod(name="grpo", title="GRPO", wording="group relative policy optimisation (GRPO)", tags=("grpo",)),
        TrainingMethod(name="cpt", title="CPT", wording="continued pre-training (CPT)", tags=("cpt",)),
        TrainingMethod(name="unknown", title="fine-tune", wording="fine-tuning", tags=()),
    )
}


def detect_training_method(signals: Iterable[str]) -> str:
    """The first method named by a tag or a trainer's words (e.g. TRL's "trained with SFT"), else unknown."""
    for signal in signals:
        for word in re.findall(r"[a-z]+", signal.lower()):
            if word in METHODS and word != "unknown":
                return word
    return "unknown"


def method(name: str) -> TrainingMethod:
    return METHODS.get(name, METHODS["unknown"])
