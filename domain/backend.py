"""Which library merges: `hf` (transformers + peft, anywhere) or `unsloth` (NVIDIA GPUs), chosen per checkpoint.

`select_backend` reads the machine once (what the user asked, whether a GPU and the unsloth package are there);
`Backends.choose` then picks for each merge. Unsloth is chosen only for what its merger merges the way hubship
verifies (a LoRA adapter on an unquantized base, written in 16 bits); everything else goes to hf, and `plan`
says why. Pure: the caller passes the facts a system probe reported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.suggest import did_you_mean

BACKENDS = ("auto", "hf", "unsloth")
UNSLOTH_PACKAGE = "unsloth"
BACKEND_TOOL = "backend"  # the tool name a format that merges lists, so the backend is in its key and manifest
UNSLOTH_DTYPES = ("bf16", "fp16")  # Unsloth's merged save writes 16-bit weights only


def unsloth_gap(*, full: bool, quantized_base: bool, dtype: str | None) -> str | None:
    """What Unsloth's merger does not merge the way hubship verifies, in a few words; None when it does.

    A full fine-tune has no adapter to merge (hubship casts and re-shards it); an adapter trained on a 4-bit base must
    merge onto that base as bitsandbytes dequantizes it, which hubship's Unsloth merger (it loads the base in 16 bits)
    does not; fp32 Unsloth's merged save never writes.
    """
    if full:
        return "a full fine-tune"
    if quantized_base:
        return "an adapter on a quantized base"
    if dtype is not None and dtype not in UNSLOTH_DTYPES:
        return f"into {dtype}"
    return None


@attrs.frozen(kw_only=True)
class BackendChoice:
    """The backend of one merge, and why (one line for `plan`)."""

    name: str
    reason: str


@attrs.frozen(kw_only=True)
class Backends:
    """What the user asked (`requested`: auto, hf or unsloth) on a machine that can run Unsloth or not."""

    requested: str = "hf"
    unsloth_ready: bool = False  # an NVIDIA GPU and the unsloth package
    unsloth_version: str = "absent"

    def choose(self, *, full: bool, quantized_base: bool, dtype: str | None, strict: bool = True) -> BackendChoice:
        """The backend that merges this checkpoint. Unsloth only where `unsloth_gap` finds nothing; an explicit
        `--backend unsloth` on what it does not cover is a UserInputError when `strict` (the plan of a publish that
        merges), and hf otherwise (the base yardstick, which never depends on the backend's coverage)."""
        if self.requested == "hf":
            return BackendChoice(name="hf", reason="--backend hf")
        gap = unsloth_gap(full=full, quantized_base=quantized_base, dtype=dtype)
        if self.requested == UNSLOTH_PACKAGE:
            if gap is None:
                return BackendChoice(name=UNSLOTH_PACKAGE, reason="--backend unsloth")
            if strict:
                raise UserInputError(f"--backend unsloth does not merge {gap} the way hubship verifies it; use --backend auto or hf")
            return BackendChoice(name="hf", reason=f"Unsloth does not merge {gap} the way hubship verifies it")
        if not self.unsloth_ready:
            return BackendChoice(name="hf", reason="auto: no NVIDIA GPU with the unsloth package here")
        if gap is not None:
            return BackendChoice(name="hf", reason=f"auto: Unsloth does not merge {gap} the way hubship verifies it")
        return BackendChoice(name=UNSLOTH_PACKAGE, reason="auto: an NVIDIA GPU and the unsloth package, and a LoRA on a 16-bit base")

    def full_model(self) -> BackendChoice:
        """The backend of a full model's merge (the base yardstick's, whatever was asked): hf."""
        return self.choose(full=True, quantized_base=False, dtype=None, strict=False)

    def tool(self, choice: BackendChoice) -> dict[str, str]:
        """The `BACKEND_TOOL` entry of the tool versions for `choice`: `hf` (hubship's own merge), or `unsloth VERSION`.

        A format listing `BACKEND_TOOL` in its tools then has the backend in its content key and its manifest,
        so an Unsloth merge and an hf merge never share a key in the workspace."""
        if choice.name == UNSLOTH_PACKAGE:
            return {BACKEND_TOOL: f"{UNSLOTH_PACKAGE} {self.unsloth_version}"}
        return {BACKEND_TOOL: choice.name}


def select_backend(requested: str, *, nvidia_gpu: bool, installed: Mapping[str, str] | Collection[str]) -> Backends:
    """The machine's backends for `requested` (auto, hf or unsloth; checked). An explicit `unsloth` that this machine
    cannot run is a UserInputError saying what is missing."""
    choice = (requested or "auto").strip().lower()
    if choice not in BACKENDS:
        raise UserInputError(f"unknown backend {requested!r}; {did_you_mean(choice, BACKENDS, 'use --backend auto, hf or unsloth')}")
    has_unsloth = UNSLOTH_PACKAGE in installed
    if choice == UNSLOTH_PACKAGE and not (nvidia_gpu and has_unsloth):
        missing = " and ".join(
            what
            for what, ok in (("an NVIDIA GPU", nvidia_gpu), ("the unsloth package (pip install 'hubship[unsloth]')", has_unsloth))
            if not ok
        )
        raise UserInputError(f"--backend unsloth needs {missing}, which this machine lacks; use --backend hf or auto")
    version = installed.get(UNSLOTH_PACKAGE, "absent") if isinstance(installed, Mapping) else "absent"
    return Backends(requested=choice, unsloth_ready=nvidia_gpu and has_unsloth, unsloth_version=version)
