"""Which library does the heavy model work: `hf` (transformers + peft, anywhere) or `unsloth` (NVIDIA GPUs).

Pure: the caller passes the facts (GPU present, packages installed) a system probe reported.
"""

from __future__ import annotations

from collections.abc import Collection

from hubship.domain.errors import UserInputError
from hubship.domain.suggest import did_you_mean

BACKENDS = ("auto", "hf", "unsloth")
UNSLOTH_PACKAGE = "unsloth"


def select_backend(requested: str, *, nvidia_gpu: bool, installed: Collection[str]) -> str:
    """The backend to use: `auto` is unsloth only with an NVIDIA GPU and the unsloth package, else hf.

    An explicit `unsloth` that this machine cannot run is a UserInputError saying what is missing.
    """
    choice = (requested or "auto").strip().lower()
    if choice not in BACKENDS:
        raise UserInputError(f"unknown backend {requested!r}; {did_you_mean(choice, BACKENDS, 'use --backend auto, hf or unsloth')}")
    has_unsloth = UNSLOTH_PACKAGE in installed
    if choice == "auto":
        return "unsloth" if nvidia_gpu and has_unsloth else "hf"
    if choice == "unsloth" and not (nvidia_gpu and has_unsloth):
        missing = " and ".join(
            what
            for what, ok in (("an NVIDIA GPU", nvidia_gpu), ("the unsloth package (pip install 'hubship[unsloth]')", has_unsloth))
            if not ok
        )
        raise UserInputError(f"--backend unsloth needs {missing}, which this machine lacks; use --backend hf or auto")
    return choice
