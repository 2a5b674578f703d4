"""Which checkpoint of a trainer's output folder to publish: the rule, over facts an adapter gathers.

A Hugging Face Trainer / TRL run leaves `checkpoint-N/` folders in its output folder, and, once it ends with
`save_model`, the final model at the root. The root's final model is taken first; else the last checkpoint
(highest N). `--checkpoint last|best|N` picks one explicitly (`best`: trainer_state.json's
`best_model_checkpoint`). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from hubship.domain.errors import UserInputError

STEP_FOLDER = re.compile(r"^checkpoint-(\d+)$")
LOOKED_FOR = (
    "adapter_config.json (a LoRA adapter), config.json with .safetensors weights (a full model) and checkpoint-N folders (a trainer run)"
)


@attrs.frozen
class RunChoice:
    """The folder to publish, relative to the given one ("" for itself), and the line that says why (None for a
    plain checkpoint folder, where there was nothing to choose)."""

    folder: str
    line: str | None


def step_of(name: str) -> int | None:
    """N for a folder named `checkpoint-N`, else None."""
    match = STEP_FOLDER.match(name)
    return int(match.group(1)) if match else None


def choose_checkpoint(*, root: str, root_has_model: bool, steps: Mapping[int, str], best: str | None, wanted: str | None) -> RunChoice:
    """The checkpoint to publish from the folder `root`: `steps` maps N to each `checkpoint-N` folder holding a model,
    `best` is the folder name trainer_state.json records as best (or None), `wanted` the `--checkpoint` value."""
    count = f"{len(steps)} checkpoint-N folder{'s' if len(steps) != 1 else ''}"
    if wanted is None:
        if root_has_model:
            line = f"using the final model saved at the root of {root} ({count} beside it; --checkpoint N picks one)" if steps else None
            return RunChoice("", line)
        if not steps:
            raise UserInputError(f"{root} holds no checkpoint: looked for {LOOKED_FOR}; pass the folder the trainer saved to")
        last = max(steps)
        return RunChoice(steps[last], f"using {steps[last]}, the last of {count} in {root} (--checkpoint best|N picks another)")
    choice = str(wanted).strip().lower()
    if not steps:
        raise UserInputError(f"--checkpoint {wanted} needs a trainer run folder with checkpoint-N folders; {root} has none")
    if choice == "last":
        return RunChoice(steps[max(steps)], f"using {steps[max(steps)]}, the last of {count} in {root} (--checkpoint last)")
    if choice == "best":
        if best is None:
            raise UserInputError(
                f"trainer_state.json in {root} records no best_model_checkpoint (the run tracked no metric);"
                " pass --checkpoint last or --checkpoint N"
            )
        if best not in steps.values():
            raise UserInputError(f"the best checkpoint {best} recorded in trainer_state.json is not in {root}; pass --checkpoint last or N")
        return RunChoice(best, f"using {best}, the best of {count} in {root} (trainer_state.json's best_model_checkpoint)")
    if not choice.isdigit():
        raise UserInputError(f"invalid --checkpoint {wanted!r}; use last, best or a step number such as {max(steps)}")
    if int(choice) not in steps:
        raise UserInputError(f"{root} has no checkpoint-{int(choice)}; it has {', '.join(steps[n] for n in sorted(steps))}")
    return RunChoice(steps[int(choice)], f"using {steps[int(choice)]} of {count} in {root} (--checkpoint {int(choice)})")
