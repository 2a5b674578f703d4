"""Building one `gguf-<quant>`: each variant (without and/or with the imatrix) made and measured, the better one kept.

Which variants are built is domain/imatrix.py's `variants`; each is made in a hidden folder of the
artifact, measured by the GGUF verifier against the reference logits, and the one with the lower
mean KL on the probe's first half is moved into place (with `<name>.imatrix.gguf` beside it when it
used the imatrix). Both choice figures are recorded: `mean_kl_without_imatrix` and `mean_kl_with_imatrix`
among the metrics, and a note for the card; the published `mean_kl` and `top1_agreement` are the kept
file's on the probe's second half (`mean_kl_probe` says so), so the choice does not bias them low
(domain/imatrix.py). `imatrix` names the file kept (or "none") wherever an imatrix was in the plan.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.imatrix import CHOSEN_ON, WITH, WITHOUT, choose, published_figures

Make = Callable[[Path, Path | None], tuple[Path, ...]]  # (folder, imatrix or None) -> the GGUF files made there
Measure = Callable[[tuple[Path, ...]], dict[str, float]]


def link(src: Path, dst: Path) -> None:
    """Hard link `src` at `dst`, else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _kl(metrics: dict[str, float]) -> str:
    key = f"mean_kl_{CHOSEN_ON}"
    return f"{metrics[key]:.4g}" if key in metrics else "not measured"


def build_variants(
    ctx: BuildContext, wanted: tuple[str, ...], imatrix: Path | None, info: dict[str, Any], make: Make, measure: Measure
) -> tuple[dict[str, Any], list[str]]:
    """Make and measure each wanted variant, keep the better one in `ctx.out_dir`; (its metrics, card notes)."""
    made: dict[str, tuple[tuple[Path, ...], dict[str, float]]] = {}
    for variant in wanted:
        folder = ctx.out_dir if len(wanted) == 1 else ctx.out_dir / f".{variant}-imatrix"
        folder.mkdir(exist_ok=True)
        files = make(folder, imatrix if variant == WITH else None)
        made[variant] = (files, measure(files))
    measured = {v: m[f"mean_kl_{CHOSEN_ON}"] for v, (_, m) in made.items() if f"mean_kl_{CHOSEN_ON}" in m}
    chosen = choose(measured) if len(measured) == len(made) > 1 else wanted[-1]
    files, _ = made[chosen]
    if len(wanted) > 1:
        for path in files:
            os.replace(path, ctx.out_dir / path.name)
        for variant in wanted:
            shutil.rmtree(ctx.out_dir / f".{variant}-imatrix")
    record: dict[str, Any] = published_figures({v: m for v, (_, m) in made.items()}, chosen)
    notes = []
    if chosen == WITH and imatrix is not None:
        link(imatrix, ctx.out_dir / imatrix.name)
        record["imatrix"] = imatrix.name
        made_from = info.get("source", "calibration text")
        notes.append(f"Quantized with the importance matrix `{imatrix.name}` (published beside it), made from {made_from}.")
    elif info:  # an imatrix was in the plan for this quantization (even if none could be made)
        record["imatrix"] = "none"
    if len(made) > 1:
        notes.append(
            f"Mean KL against the fine-tune on the probe's first half: {_kl(made[WITH][1])} with the imatrix,"
            f" {_kl(made[WITHOUT][1])} without; the one {chosen} it was published (hubship measures both; `--imatrix on`"
            " or `off` forces one). Its mean KL and top-1 agreement are measured on the probe's second half, which the"
            " choice did not see, so picking the lower figure does not make them look better than the file is."
        )
    elif info.get("reason"):
        notes.append(f"Made without an importance matrix: {info['reason']}.")
    return record, notes
