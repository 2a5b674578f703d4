"""`hubship plan`'s memory estimate against the measured peak RSS of the publish it plans (the tiny model).

The publish runs as the one child of a small wrapper process, which reports ru_maxrss of its children: that
publish's high-water mark alone (a child forked straight from pytest would count pytest's own pages, shared
until it execs). tests/benchmarks/bench_estimates.py measures each step on larger models.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TOLERANCE = 0.25


WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, done.stderr[-2000:])
"""


def _peak_rss(command: list[str]) -> int:
    """Run `command`; its peak RSS in bytes; fails unless it exits 0."""
    done = subprocess.run([sys.executable, "-c", WRAPPER, *command], cwd=REPO, capture_output=True, text=True, check=True)
    code, peak, stderr = done.stdout.split(" ", 2)
    assert code == "0", stderr
    return int(peak)


MLX = pytest.mark.skipif(importlib.util.find_spec("mlx_lm") is None, reason="needs the mlx extra: pip install 'hubship[mlx]'")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["lora", "merged-16bit", pytest.param("mlx-4bit", marks=MLX)])
def test_plans_memory_is_within_a_quarter_of_the_publishs_peak(tiny_model: tuple[Path, Path], tmp_path: Path, fmt: str) -> None:
    """lora runs on hubship's file copying alone, merged-16bit on torch (the reference probe, the merge, its check),
    mlx-4bit on torch and mlx-lm (the merged model converted, then it and the artifact run by mlx-lm)."""
    _, checkpoint = tiny_model
    args = [str(checkpoint), "-f", fmt, "-w", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'out'}", "--quiet"]
    hubship = [sys.executable, "-m", "hubship"]
    plan = subprocess.run([*hubship, "plan", *args, "--json"], cwd=REPO, capture_output=True, text=True, check=True)
    estimate = json.loads(plan.stdout)["resources"]["memory_needed_bytes"]  # the largest step's
    measured = _peak_rss([*hubship, "publish", *args])
    assert abs(estimate / measured - 1) <= TOLERANCE, f"plan says {estimate / 1e6:.0f} MB, the publish peaked at {measured / 1e6:.0f} MB"
