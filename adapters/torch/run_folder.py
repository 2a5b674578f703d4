"""A trainer's output folder, read for the facts domain.run_folder chooses a checkpoint from: whether the root
holds a final model, its `checkpoint-N/` folders, and trainer_state.json's `best_model_checkpoint`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hubship.domain.run_folder import RunChoice, choose_checkpoint, step_of


def _best(root: Path, steps: dict[int, str]) -> str | None:
    """The folder name of trainer_state.json's best_model_checkpoint: the root's state, else the last checkpoint's
    (each checkpoint records the best so far). The path is as the trainer saw it; its last part names the folder."""
    for folder in [root, *(root / steps[n] for n in sorted(steps, reverse=True))]:
        try:
            best = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8")).get("best_model_checkpoint")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(best, str) and best:
            return Path(best.replace("\\", "/")).name
    return None


def resolve_run_folder(root: Path, pick: str | None, has_model: Callable[[Path], bool], shown: str) -> RunChoice:
    """Which checkpoint of the folder `root` (`shown` as the user named it) to publish (`pick`: the --checkpoint
    value, or None); `has_model` says whether a folder holds one."""
    steps = {}
    for entry in root.iterdir():
        step = step_of(entry.name)
        if step is not None and entry.is_dir() and has_model(entry):
            steps[step] = entry.name
    return choose_checkpoint(root=shown, root_has_model=has_model(root), steps=steps, best=_best(root, steps), wanted=pick)
