"""GPU integration: merged-16bit through the Unsloth backend equals the hf (transformers + peft) backend.

Run on a machine with an NVIDIA GPU and `pip install 'hubship[unsloth]'`:
    OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q -s tests/gpu
Skipped elsewhere (tests/gpu is not in the default test paths). Prints the measured differences.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU"),
    pytest.mark.skipif(importlib.util.find_spec("unsloth") is None, reason="needs unsloth (pip install 'hubship[unsloth]')"),
]
PROMPT_IDS = [[1, 17, 42, 99, 7, 250, 3, 64]]


@pytest.fixture(scope="module")
def bf16_model(tmp_path_factory) -> tuple[Path, Path]:
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    return HfDemoCheckpointFactory().create(tmp_path_factory.mktemp("bf16"), dtype="bfloat16")


def _publish(checkpoint: Path, backend: str, root: Path) -> Path:
    result = run_cli(
        "publish", str(checkpoint), "-f", "merged-16bit", "--backend", backend, "--name", backend,
        "--to", f"dir:{root / 'out'}", "--workspace", str(root / f"ws-{backend}"), "--json", "--verify", "off",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["plan"]["name"] == backend
    return root / "out" / backend / "merged-16bit"


def test_auto_picks_unsloth_on_a_gpu_machine(bf16_model, tmp_path):
    result = run_cli("plan", str(bf16_model[1]), "-f", "merged-16bit", "--workspace", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["settings"]["backend"] == {"value": "auto", "origin": "default", "resolved": "unsloth"}


def test_unsloth_merge_matches_the_hf_merge(bf16_model, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    hf, unsloth = _publish(bf16_model[1], "hf", tmp_path), _publish(bf16_model[1], "unsloth", tmp_path)
    want = {k: v for f in sorted(hf.glob("*.safetensors")) for k, v in load_file(f).items()}
    got = {k: v for f in sorted(unsloth.glob("*.safetensors")) for k, v in load_file(f).items()}
    assert set(got) == set(want)
    worst = max(((got[k].float() - want[k].float()).abs().max().item(), k) for k in want)
    ids = torch.tensor(PROMPT_IDS)
    logits = [AutoModelForCausalLM.from_pretrained(p, dtype=torch.float32)(ids).logits for p in (hf, unsloth)]
    logit_gap = (logits[0] - logits[1]).abs().max().item()
    top1 = (logits[0].argmax(-1) == logits[1].argmax(-1)).float().mean().item()
    print(f"\nunsloth vs hf merged-16bit: {len(want)} tensors, max |dW| {worst[0]:.3g} ({worst[1]}),"
          f" max |dlogit| {logit_gap:.3g}, top-1 agreement {top1:.2f}")  # fmt: skip
    assert worst[0] <= 2e-2 and logit_gap <= 5e-2 and top1 == 1.0
