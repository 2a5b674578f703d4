"""Where llm-compressor's own environment is, and what is installed in it, read from disk (no process started).

llm-compressor pins a transformers (and compressed-tensors) older than hubship's, so it lives in a virtual
environment of its own, made by `install.py` (`make setup`), and is run as a subprocess (docs/adr/021-compressed-tensors.md).
`hubship[vllm]` stands for that environment plus compressed-tensors in hubship's own, which verifies the result.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HOME_ENV = "HUBSHIP_LLMCOMPRESSOR_ENV"
DISTRIBUTION = "llmcompressor"
EXTRA = "hubship[vllm]"


def env_home() -> Path:
    """$HUBSHIP_LLMCOMPRESSOR_ENV, else <hubship's venv>/share/hubship/llmcompressor-venv."""
    override = os.environ.get(HOME_ENV)
    return Path(override) if override else Path(sys.prefix) / "share" / "hubship" / "llmcompressor-venv"


def env_python(home: Path) -> Path:
    return home / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed_version(home: Path, distribution: str = DISTRIBUTION) -> str | None:
    """The version of `distribution` installed in the environment at `home`, from its dist-info folder; None if absent."""
    if not env_python(home).exists():
        return None
    prefix = distribution.replace("-", "_")
    for lib in (home / "lib").glob("python*/site-packages") if os.name != "nt" else [home / "Lib" / "site-packages"]:
        for info in lib.glob(f"{prefix}-*.dist-info"):
            return info.name[len(prefix) + 1 : -len(".dist-info")]
    return None


def missing(home: Path | None = None) -> str | None:
    """One line naming the extra when llm-compressor's environment or hubship's compressed-tensors is missing."""
    home = home or env_home()
    if installed_version(home) is None:
        return (
            f"formats fp8-dynamic and w4a16 need the {EXTRA} extra: llm-compressor's own environment is not in {home};"
            " run `make setup` (or `python -m hubship.adapters.llm_compressor.install`)"
        )
    if importlib.util.find_spec("compressed_tensors") is None:
        return f"formats fp8-dynamic and w4a16 need the {EXTRA} extra: compressed-tensors, which verifies them; pip install '{EXTRA}'"
    return None


def tool_versions() -> dict[str, str]:
    """The versions that key a compressed-tensors artifact: llm-compressor and the compressed-tensors, transformers and
    torch it ran with (its environment's), and hubship's compressed-tensors (which verifies); without llm-compressor's
    environment, only the latter."""
    home = env_home()
    found = {}
    if llmc := installed_version(home):
        found["llmcompressor"] = llmc
        for name in ("compressed_tensors", "transformers", "torch"):  # what it quantized with, in its own environment
            found[f"llmcompressor_{name}"] = installed_version(home, name) or ""
    with contextlib.suppress(PackageNotFoundError):
        found["compressed_tensors"] = version("compressed-tensors")
    return found
