"""hubship's modules byte-compiled before a benchmark: an installed hubship has its bytecode, while an editable
checkout under PYTHONDONTWRITEBYTECODE (set in many containers) compiles every module in every process (0.3 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def compile_hubship() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "-x", r"/\.venv/|/tests/", str(REPO)], check=True)
