"""The verifier: reference logits of base + adapter (unmerged, as peft runs them), a built model's distance from them,
the memory bound of both, and the quality gate and `--verify off` through the CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier, kl_metrics
from hubship.adapters.torch.streaming_merger import StreamingMerger
from hubship.application.format_registry import FormatRegistry
from hubship.domain.checkpoint import BaseRef
from hubship.domain.errors import PublishError, UserInputError
from tests.fakes.progress import FakeProgress
from tests.integration.test_streaming_merge import VARIANTS, peft_unmerged_logits

# every Linear/Embedding run slab by slab, in slabs of a few rows: the path real models take for their big layers
SLABBED = {"slab_elements": 1000, "big_leaf_bytes": 10_000}


def _read(reference: Path) -> tuple[torch.Tensor, torch.Tensor]:
    with safe_open(str(reference), framework="pt") as f:
        return f.get_tensor("input_ids"), f.get_tensor("logits")


def _reference(base: Path, ckpt: Path, out: Path, **verifier: int) -> Path:
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    TorchLogitsVerifier(**verifier).reference(checkpoint, info, out, FakeProgress())
    return out


def test_reference_file_contract_and_probe(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    base, ckpt = tiny_model
    ids, logits = _read(_reference(base, ckpt, tmp_path / "reference.safetensors"))
    vocab = json.loads((base / "config.json").read_text())["vocab_size"]
    assert ids.dtype == torch.int64 and ids.ndim == 1 and 100 <= len(ids) <= 512
    assert logits.dtype == torch.float32 and tuple(logits.shape) == (len(ids), vocab)
    from transformers import AutoTokenizer

    text = AutoTokenizer.from_pretrained(ckpt).decode(ids[-40:])
    assert "<|im_start|>assistant" in text and "Paris" in text  # the chat turn, rendered with the checkpoint's template


@pytest.mark.parametrize("variant", ["tied_embedding_lora", "added_tokens_tied", "dora", "fan_in_fan_out_and_lora_bias"])
@pytest.mark.parametrize("slabbed", [False, True], ids=["blocks", "slabs"])
def test_reference_equals_peft_forward(variant: str, slabbed: bool, tmp_path: Path) -> None:
    base, ckpt = VARIANTS[variant](tmp_path)
    if not (ckpt / "tokenizer.json").exists():  # the GPT-2 variant has no tokenizer: lend it the demo's
        _, donor = HfDemoCheckpointFactory().create(tmp_path / "donor", layers=1, hidden_size=64)
        for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"):
            (ckpt / name).write_bytes((donor / name).read_bytes())
    ids, logits = _read(_reference(base, ckpt, tmp_path / "ref.safetensors", **(SLABBED if slabbed else {})))
    assert float((logits - peft_unmerged_logits(base, ckpt, ids)).abs().max()) <= 1e-5


def test_compare_measures_the_artifact(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    base, ckpt = tiny_model
    reference = _reference(base, ckpt, tmp_path / "ref.safetensors")
    verifier = TorchLogitsVerifier(**SLABBED)
    merged = tmp_path / "merged"
    merged.mkdir()
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    StreamingMerger().merge(checkpoint, info, merged, dtype="fp32", max_shard_bytes=10**9, progress=FakeProgress())
    good = verifier.compare(merged, reference, FakeProgress())
    assert good["max_abs_diff"] <= 1e-4 and good["mean_kl"] <= 1e-9 and good["top1_agreement"] == 1.0
    without_adapter = verifier.compare(base, reference, FakeProgress())  # what a merge that lost the adapter gives
    assert without_adapter["mean_kl"] > 1e3 * max(good["mean_kl"], 1e-12)


def test_kl_metrics() -> None:
    reference = torch.tensor([[5.0, 0.0, 0.0], [1.0, 0.99, -3.0]])
    same = kl_metrics(reference.clone(), reference)
    assert same == {"max_abs_diff": 0.0, "mean_kl": 0.0, "top1_agreement": 1.0, "top1_near": 1.0}
    near_tie = kl_metrics(torch.tensor([[5.0, 0.0, 0.0], [0.99, 1.0, -3.0]]), reference)
    assert near_tie["top1_agreement"] == 0.5 and near_tie["top1_near"] == 1.0  # 0.01 nats apart: strict disagrees, near counts it
    wrong = kl_metrics(torch.tensor([[0.0, 5.0, 0.0], [1.0, 0.99, -3.0]]), reference)
    assert wrong["top1_agreement"] == wrong["top1_near"] == 0.5 and wrong["mean_kl"] > 1.0


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from hubship.adapters.torch.loader import HfTransformersLoader
    from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
    from hubship.adapters.torch.streaming_merger import StreamingMerger
    from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier
    from hubship.domain.checkpoint import BaseRef
    from tests.fakes.progress import FakeProgress

    base, ckpt, out = map(Path, sys.argv[1:4])
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    verifier = TorchLogitsVerifier(big_leaf_bytes=4 * 320 * 512)
    def status(field):  # VmHWM: this process image's peak RSS (ru_maxrss would carry the parent's over exec)
        return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) * 1024
    verifier.reference(checkpoint, info, out / "warm-up.safetensors", FakeProgress())  # imports and caches, not measured
    open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM to the current RSS
    start = status("VmRSS")
    verifier.reference(checkpoint, info, out / "ref.safetensors", FakeProgress())
    (out / "merged").mkdir()
    StreamingMerger().merge(checkpoint, info, out / "merged", dtype=None, max_shard_bytes=10**9, progress=FakeProgress())
    verifier.compare(out / "merged", out / "ref.safetensors", FakeProgress())
    print(json.dumps({"start": start, "peak": status("VmHWM")}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_merge_and_verification_stay_within_a_few_layers(tmp_path: Path) -> None:
    """A 75 MB fp32 model (8 layers of 9 MB): reference, merge and comparison together grow RSS by far less than it."""
    base, ckpt = HfDemoCheckpointFactory().create(tmp_path / "model", dtype="float32", hidden_size=512, layers=8)
    model_bytes = sum(p.stat().st_size for p in base.glob("*.safetensors"))
    assert model_bytes > 70e6
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(base), str(ckpt), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
        env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["peak"] - figures["start"] < 0.4 * model_bytes, figures


@pytest.mark.slow
def test_quality_gate_and_verify_off(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    _, ckpt = tiny_model
    workspace, dest = tmp_path / "ws", tmp_path / "published"
    common = [str(ckpt), "--format", "merged-16bit", "--workspace", str(workspace), "--to", f"dir:{dest}", "--quiet"]
    failed = cli("publish", *common, "--threshold", "merged-16bit.max_abs_diff=-1")
    assert failed.returncode == 3, failed.stderr
    assert re.fullmatch(  # fp32 is the highest-bit merge: the ways out are a threshold that passes, or accepting the loss
        r"hubship: error: quality gate failed, nothing was published \(merged-16bit: max_abs_diff=[0-9.e-]+ > -1\);"
        r" set a looser threshold \(--threshold merged-16bit\.max_abs_diff=[0-9.e-]+\), or pass --accept-quality-loss to publish anyway",
        failed.stderr.strip(),
    )
    assert not dest.exists() or not any(dest.rglob("*")), "a failed gate must publish nothing"

    accepted = cli("publish", *common, "--threshold", "merged-16bit.max_abs_diff=-1", "--accept-quality-loss")
    assert accepted.returncode == 0, accepted.stderr
    manifest = json.loads(next(dest.rglob("manifest.json")).read_text())
    assert manifest["verification"]["passed"] is False and manifest["verification"]["thresholds"]["max_abs_diff"] == {"max": -1.0}
    assert manifest["verification"]["metrics"]["mean_kl"] < 1e-6
    assert "mean_kl" in (manifest_card := next(dest.rglob("README.md")).read_text()) and "Measured quality" in manifest_card
    assert "**Verdict: below the quality threshold** — max_abs_diff" in manifest_card

    off = cli("publish", *common[:-3], "--to", f"dir:{tmp_path / 'off'}", "--verify", "off", "--quiet")
    assert off.returncode == 0, off.stderr
    assert json.loads(next((tmp_path / "off").rglob("manifest.json")).read_text())["verification"] == {}
    assert len(list(workspace.rglob("reference.safetensors"))) == 1, "verify off writes no reference"


def test_reference_logits_is_internal() -> None:
    registry = FormatRegistry.from_entry_points()
    assert "reference-logits" not in registry.names and "reference-logits" in registry.formats
    with pytest.raises(UserInputError, match="unknown format 'reference-logits'") as refused:
        registry.parse(["reference-logits"])
    assert "reference-logits" not in refused.value.message.split("valid formats:")[1]
    assert set(registry.formats["merged-16bit"].builds_from) == {"reference-logits"}
    assert "reference-logits" in registry.formats["merged-4bit"].builds_from


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (
            "merged-4bit.mean_kll=0.1",
            "--threshold names 'mean_kll', which merged-4bit does not measure; did you mean 'mean_kl'?"
            " merged-4bit measures: mean_kl, top1_agreement, top1_near",
        ),
        ("merged-4bt.mean_kl=0.1", "--threshold names unknown format 'merged-4bt'; did you mean 'merged-4bit'? formats with thresholds:"),
        ("gguf-q4_k_m.mean_kll=0.1", "which gguf-q4_k_m does not measure; did you mean 'mean_kl'?"),  # a format not requested this run
    ],
)
def test_a_mistyped_threshold_is_one_line_exit_2(tiny_model: tuple[Path, Path], tmp_path: Path, cli, threshold: str, expected: str) -> None:
    dest = tmp_path / "published"
    argv = ["publish", str(tiny_model[1]), "-f", "merged-4bit", "-w", str(tmp_path / "ws"), "--to", f"dir:{dest}", "--threshold", threshold]
    done = cli(*argv)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("hubship: error: ") and expected in line
    assert "merged-16bit" in line or "measures:" in line  # the valid names, in the same line
    assert not dest.exists() and not list((tmp_path / "ws").rglob("*.safetensors"))


def test_a_built_model_that_fails_to_run_is_a_tool_failure(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    """Running what hubship built is not the user's input: a library error there (bitsandbytes leaving gpt-oss's fused
    experts in bf16: "self and mat2 must have the same dtype") exits 1, not 2."""
    base, ckpt = tiny_model
    reference = _reference(base, ckpt, tmp_path / "ref.safetensors")
    broken = tmp_path / "built"
    shutil.copytree(base, broken)
    weights = load_file(broken / "model.safetensors")
    name = next(n for n in weights if n.endswith("mlp.down_proj.weight"))
    save_file({**weights, name: weights[name].t().contiguous()}, broken / "model.safetensors")  # a weight torch cannot multiply
    with pytest.raises(PublishError, match=r"^running the built model in .* failed: ") as failed:
        TorchLogitsVerifier().compare(broken, reference, FakeProgress())
    assert failed.value.exit_code == 1
