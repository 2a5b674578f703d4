"""Which library does the heavy model work: `hf` (transformers + peft, anywhere) or `unsloth` (NVIDIA GPUs).

Pure: the caller passes the facts (GPU present, packages installed) a system probe reported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from hubship.domain.errors import UserInputError
from hubship.domain.suggest import did_you_mean

BACKENDS = ("auto", "hf", "unsloth")
UNSLOTH_PACKAGE = "unsloth"
BACKEND_TOOL = "backend"  # the tool name a format that merges lists, so the backend is in its key and manifest


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


def backend_tool(backend: str, versions: Mapping[str, str]) -> dict[str, str]:
    """The `BACKEND_TOOL` entry of the tool versions: `hf` (hubship's own merge), or `unsloth VERSION`.

    A format listing `BACKEND_TOOL` in its tools then has the backend in its content key and its manifest,
    so an Unsloth merge and an hf merge never share a key in the workspace.
    """
    if backend == UNSLOTH_PACKAGE:
        return {BACKEND_TOOL: f"{UNSLOTH_PACKAGE} {versions.get(UNSLOTH_PACKAGE, 'absent')}"}
    return {BACKEND_TOOL: backend}
