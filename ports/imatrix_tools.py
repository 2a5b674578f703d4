from __future__ import annotations

from pathlib import Path
from typing import Protocol

from hubship.ports.progress import Progress


class ImatrixTools(Protocol):
    """llama.cpp's own `llama-imatrix` and `llama-quantize`, built at set-up from the llama.cpp of the pinned
    llama-cpp-python (docs/adr/012-imatrix.md).

    Missing or stale tools are a UserInputError naming `make setup`; a tool that fails is a PublishError
    stating llama.cpp's reason in one line, except input the user gave (an imatrix file that is not one,
    calibration text too short), which is a UserInputError.
    """

    def version(self) -> str | None:
        """The llama-cpp-python version the installed tools were built from, or None when they are missing or stale."""
        ...

    def check(self) -> None:
        """Raise UserInputError (one line, naming `make setup`) unless the tools are installed and current."""
        ...

    def check_imatrix(self, path: Path) -> None:
        """Raise UserInputError unless `path` is an imatrix file llama.cpp reads (GGUF or the legacy format)."""
        ...

    def convert_legacy(self, imatrix: Path, out_file: Path, *, progress: Progress) -> None:
        """Re-save an imatrix in llama.cpp's legacy `.dat` format as a GGUF imatrix at `out_file`."""
        ...

    def compute(self, model: Path, calibration: Path, out_file: Path, *, progress: Progress) -> dict[str, float]:
        """Write the imatrix of GGUF `model` over the text file `calibration` (512-token chunks) to `out_file`.

        The file records `calibration`'s name only (not its folder), so the same inputs give the same bytes.
        Returns `chunks` and the model's `perplexity` on the calibration text.
        """
        ...

    def quantize(self, source: Path, out_file: Path, quant: str, imatrix: Path, *, progress: Progress) -> None:
        """Quantize GGUF `source` to `quant` (llama.cpp's type name) with the importance matrix in `imatrix`;
        the file records the imatrix's name only."""
        ...
