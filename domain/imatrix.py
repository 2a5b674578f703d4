"""The importance matrix (imatrix) of a publish: which one, which quantizations use it, and which variant is kept.

llama.cpp's `llama-imatrix` measures how strongly each weight column is used on calibration text; its
quantizer then spends its rounding error where it matters least. hubship computes one imatrix per
publish and decides per quantization:

- `auto` (default): the quantizations of 3 bits or less and the IQ types ("low-bit") are built both
  with and without the imatrix, each measured against the reference, and the one with the lower
  mean KL on the probe's first half is kept (the types that cannot be made without one are built with
  it only); q4 and up are built without it, as before. The kept one's published figures (mean KL, top-1
  agreement) are those of the probe's second half, which the choice did not see: the lower of two
  noisy figures is biased low, an independent one is not.
- `on`: an imatrix is computed and every quantization uses it (nothing measured twice).
- `off`: no imatrix; the types that need one are refused.
- a file path: that imatrix is used as with `on`.

Pure rules: no I/O.
"""

from __future__ import annotations

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.gguf_quants import Quant
from hubship.domain.suggest import closest

AUTO, ON, OFF, FILE = "auto", "on", "off", "file"
MODES = (AUTO, ON, OFF)
_MEANT = {"no": OFF, "none": OFF, "false": OFF, "disable": OFF, "disabled": OFF, "yes": ON, "true": ON, "enable": ON}
IMATRIX_SUFFIX = ".imatrix.gguf"  # `<name>.imatrix.gguf`, published beside the GGUF files that used it
WITH, WITHOUT = "with", "without"


@attrs.frozen(kw_only=True)
class ImatrixOption:
    """The `--imatrix` option: its mode, and the file for mode `file`."""

    mode: str = AUTO
    path: str | None = None

    @property
    def computed(self) -> bool:
        """Whether hubship computes the imatrix from calibration text (auto and on)."""
        return self.mode in (AUTO, ON)

    @property
    def forced(self) -> bool:
        """Whether every quantization uses the imatrix, unmeasured against the variant without (on, file)."""
        return self.mode in (ON, FILE)


def parse_imatrix_option(value: object) -> ImatrixOption:
    """`auto`, `on`, `off` or a path to an imatrix file (a value with a path separator or a `.gguf`/`.dat` suffix)."""
    text = str(value if value is not None else AUTO).strip()
    if text.lower() in MODES:
        return ImatrixOption(mode=text.lower())
    if not text:
        raise UserInputError("invalid --imatrix ''; use auto, on, off or the path of an imatrix file")
    return ImatrixOption(mode=FILE, path=text)


def mistyped_mode(value: str) -> str | None:
    """The mode a value that names no existing file most likely meant (`autp` -> `auto`, `none` -> `off`): only a
    bare word, with no path separator and no suffix, counts; None when it is not close to one (a missing file then)."""
    text = value.strip().lower()
    if not text or any(sep in text for sep in "/\\.") or text in MODES:
        return None
    return _MEANT.get(text) or closest(text, MODES, cutoff=0.6)


def uses_imatrix(quant: Quant, option: ImatrixOption) -> bool:
    """Whether a quantization is built from the publish's imatrix (with it, or with and without it)."""
    if option.mode == OFF:
        return False
    return option.forced or quant.low_bit


def variants(quant: Quant, option: ImatrixOption, *, available: bool, measured: bool) -> tuple[str, ...]:
    """Which variants of `quant` to build: (WITHOUT,), (WITH,) or (WITHOUT, WITH) to measure both.

    `available`: an imatrix was made (the tools were installed); `measured`: a reference to measure
    against is in the plan (verification on). Without a reference, `auto` uses the imatrix for the
    low-bit types, llama.cpp's own advice.
    """
    if not available or not uses_imatrix(quant, option):
        return (WITHOUT,)
    if quant.needs_imatrix or option.forced or not measured:
        return (WITH,)
    return (WITHOUT, WITH)


FIRST_HALF, SECOND_HALF = "first_half", "second_half"  # the GgufVerifier's figures per half of the probe
CHOSEN_ON, REPORTED_ON = FIRST_HALF, SECOND_HALF
HELD_OUT = "second half (the imatrix variant was chosen on the first)"  # what `mean_kl_probe` says then


def probe_halves(count: int) -> dict[str, range]:
    """The positions of a probe of `count` tokens in each half: the first where `auto` chooses, the second where
    the kept variant is measured for publishing."""
    middle = count // 2
    return {FIRST_HALF: range(0, middle), SECOND_HALF: range(middle, count)}


def published_figures(made: dict[str, dict[str, float]], chosen: str) -> dict[str, float | str]:
    """What is published of the variant `chosen` among the measured `made` (variant -> the verifier's figures):
    one variant, its figures on the whole probe; several, its figures on the half the choice did not see, each
    variant's choice figure as `mean_kl_<variant>_imatrix`, and `mean_kl_probe` saying so."""
    halves = (f"_{FIRST_HALF}", f"_{SECOND_HALF}")
    figures: dict[str, float | str] = {k: v for k, v in made[chosen].items() if not k.endswith(halves)}
    if len(made) > 1 and all(f"mean_kl_{CHOSEN_ON}" in m for m in made.values()):
        figures |= {m: made[chosen][f"{m}_{REPORTED_ON}"] for m in ("mean_kl", "top1_agreement")}
        figures |= {f"mean_kl_{v}_imatrix": m[f"mean_kl_{CHOSEN_ON}"] for v, m in made.items()}
        figures["mean_kl_probe"] = HELD_OUT
    elif WITH in made and "mean_kl" in made[WITH]:  # a plain quant's KL is its mean_kl, once
        figures[f"mean_kl_{WITH}_imatrix"] = made[WITH]["mean_kl"]
    return figures


def choose(mean_kl: dict[str, float]) -> str:
    """The variant with the lower mean KL (without it on a tie: one file fewer to publish)."""
    return min(mean_kl, key=lambda variant: (mean_kl[variant], variant != WITHOUT))
