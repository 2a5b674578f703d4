"""Building one `gguf-<quant>`: each variant (without and/or with the imatrix) made and measured, the better one kept.

Which variants are built is domain/imatrix.py's `variants`; each is made in a hidden folder of the
artifact, measured by the GGUF verifier against the reference logits, and the one with the lower
mean KL is moved into place (with `<name>.imatrix.gguf` beside it when it used the imatrix). Both
figures are recorded: `mean_kl_without_imatrix` and `mean_kl_with_imatrix` among the metrics, and a
note for the card; `imatrix` names the file kept (or "none") wherever an imatrix was in the plan.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.imatrix import WITH, WITHOUT, choose

Make = Callable[[Path, Path | None], tuple[Path, ...]]  # (folder, imatrix or None) -> the GGUF files made there
Measure = Callable[[tuple[Path, ...]], dict[str, float]]


def link(src: Path, dst: Path) -> None:
    """Hard link `src` at `dst`, else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _kl(metrics: dict[str, float]) -> str:
    return f"{metrics['mean_kl']:.4g}" if "mean_kl" in metrics else "not measured"


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
    measured = {v: m["mean_kl"] for v, (_, m) in made.items() if "mean_kl" in m}
    chosen = choose(measured) if len(measured) == len(made) > 1 else wanted[-1]
    files, metrics = made[chosen]
    if len(wanted) > 1:
        for path in files:
            os.replace(path, ctx.out_dir / path.name)
        for variant in wanted:
            shutil.rmtree(ctx.out_dir / f".{variant}-imatrix")
    record: dict[str, Any] = dict(metrics)
    for variant, (_, figures) in made.items():
        if "mean_kl" in figures and (len(made) > 1 or variant == WITH):  # a plain quant's KL is its mean_kl, once
            record[f"mean_kl_{variant}_imatrix"] = figures["mean_kl"]
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
            f"Mean KL against the fine-tune: {_kl(made[WITH][1])} with the imatrix, {_kl(made[WITHOUT][1])} without;"
            f" the one {chosen} it was published (hubship measures both; `--imatrix on` or `off` forces one)."
        )
    elif info.get("reason"):
        notes.append(f"Made without an importance matrix: {info['reason']}.")
    return record, notes
