"""An ImatrixTools test double that counts each kind of call and hands the work to the real tools."""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

from hubship.ports.imatrix_tools import ImatrixTools


class FakeImatrixTools:
    """Counts `check`, `check_imatrix`, `convert_legacy`, `compute` and `quantize` calls (in `calls`; `quantize` also
    by type in `quantized`), delegating each to `real`."""

    def __init__(self, real: ImatrixTools) -> None:
        self.real = real
        self.calls: collections.Counter[str] = collections.Counter()
        self.quantized: list[str] = []

    def version(self) -> str | None:
        return self.real.version()

    def check(self) -> None:
        self.calls["check"] += 1
        self.real.check()

    def check_imatrix(self, path: Path) -> None:
        self.calls["check_imatrix"] += 1
        self.real.check_imatrix(path)

    def convert_legacy(self, imatrix: Path, out_file: Path, **kwargs: Any) -> None:
        self.calls["convert_legacy"] += 1
        self.real.convert_legacy(imatrix, out_file, **kwargs)

    def compute(self, model: Path, calibration: Path, out_file: Path, **kwargs: Any) -> dict[str, float]:
        self.calls["compute"] += 1
        return self.real.compute(model, calibration, out_file, **kwargs)

    def quantize(self, source: Path, out_file: Path, quant: str, imatrix: Path, **kwargs: Any) -> None:
        self.calls["quantize"] += 1
        self.quantized.append(quant)
        self.real.quantize(source, out_file, quant, imatrix, **kwargs)
