"""Benchmark: the serving formats (MLX; compressed-tensors rows join the same table) against each tool's own CLI run by
hand on the same merged model (a script, not a test).

Run:  PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_serving.py [--size tiny|mid] [--rounds N] [--work DIR] [--keep]

Builds a Llama locally (`small`: hidden 256, 4 layers, an 8,000-token SentencePiece vocabulary trained on the running
Python's standard library sources, bf16, untied head, with a LoRA; `mid`: hidden 512, 8 layers, 32,000 tokens; `tiny`:
the tests' tiny model), then publishes
merged-16bit and gguf-q4_k_m once into a workspace: the merged model every row starts from, the reference logits,
and the GGUF q4_k_m figure printed beside the 4-bit rows. Then, for each row, in --rounds interleaved rounds
(default 3) of fresh processes:
  (a) by hand: the tool's own CLI on the published merged folder (`mlx_lm.convert -q`), then a fresh process that
      loads the result with the tool's loader and runs hubship's probe (the reference's token ids): the model load
      and the probe a user runs to check it, and the KL of that hand-made artifact against the same reference;
  (b) `hubship publish CKPT -f FORMAT` on a copy of the warm workspace: only the format is built, verified (mlx-lm
      loads it and its 16-bit run), carded and published.
It prints, per row: size, mean KL and top-1 agreement against the reference, the runtime's own 16-bit difference
and the quantization's (runtime_kl, quantization_kl), b and a (median), b/a (target <= 1.3), and hubship's KL over
the hand-made one's (target <= 1.1 for mlx-4bit).

A row is one function taking the bench `Setup` and returning a `Row`; ROWS lists them by format.

`--gate` prints instead the default gate's table for mlx-4bit on the tests' lossy tiny model (tests/support/lossy_model.py,
merged in bf16 as a real publish merges): the base alone (the yardstick), the correct fine-tune, and merges broken
as in bench_yardstick.py (the adapter lost, its delta halved or doubled), each with runtime_kl and quantization_kl
and their verdicts at the defaults and beside the base.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))
from bench_gguf import corpus  # noqa: E402  (the local real-size vocabulary text)

# mlx's Linux CPU wheel runs on the reference (netlib) BLAS and a plain quantized-matmul loop: on 2 shared cores a
# 256-token probe through `mid` takes minutes per model, so `small` is the default here
SIZES = {
    "tiny": {"hidden_size": 128, "layers": 2},
    "small": {"hidden_size": 256, "layers": 4, "vocab_size": 8_000},
    "mid": {"hidden_size": 512, "layers": 8, "vocab_size": 32_000},
}
PROBE = """
import sys, json, numpy as np
from safetensors.numpy import load_file
folder, reference = sys.argv[1:3]
probe = load_file(reference)
{load}
a, r = np.asarray(logits, dtype=np.float64), probe["logits"].astype(np.float64)
la = a - a.max(-1, keepdims=True); la -= np.log(np.exp(la).sum(-1, keepdims=True))
lr = r - r.max(-1, keepdims=True); lr -= np.log(np.exp(lr).sum(-1, keepdims=True))
kl = float((np.exp(lr) * (lr - la)).sum(-1).mean())
print(json.dumps({{"mean_kl": kl, "top1_agreement": float((la.argmax(-1) == lr.argmax(-1)).mean())}}))
"""
MLX_LOAD = """
import mlx.core as mx
from mlx_lm import load
model, tokenizer = load(folder)
logits = np.array(model(mx.array(probe["input_ids"].astype(np.int32)[None]))[0].astype(mx.float32))
"""


@dataclass
class Setup:
    checkpoint: Path
    merged: Path  # the published merged-16bit folder: what every row converts
    reference: Path  # reference.safetensors in the warm workspace
    workspace: Path  # the warm workspace (merged-16bit, reference-logits, gguf-q4_k_m)
    work: Path
    gguf_q4_k_m: dict[str, float]


@dataclass
class Row:
    format: str
    hubship_s: list[float] = field(default_factory=list)
    hand_s: list[float] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    hand: dict[str, float] = field(default_factory=dict)
    size_bytes: int = 0


def timed(args: list[str]) -> tuple[float, str]:
    """Run `args` in a fresh process; (wall seconds, stdout). Exits on failure."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} ... failed: {done.stderr.strip()[-2000:]}")
    return wall, done.stdout


def hubship_publish(setup: Setup, fmt: str, round_: int) -> tuple[float, Path]:
    """(b): `hubship publish -f FMT` in a fresh process on a copy of the warm workspace; (seconds, the published folder)."""
    workspace = setup.work / f"ws-{fmt}-{round_}"
    shutil.copytree(setup.workspace, workspace, symlinks=True)
    dest = setup.work / f"pub-{fmt}-{round_}"
    wall, _ = timed([sys.executable, "-m", "hubship", "publish", str(setup.checkpoint), "-f", fmt, "-w", str(workspace),
                     "--to", f"dir:{dest}", "--quiet"])  # fmt: skip
    shutil.rmtree(workspace)
    return wall, next(dest.rglob(f"{fmt}/manifest.json")).parent


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix == ".safetensors")


def mlx_row(bits: int | None) -> Callable[[Setup, int], Row]:
    """The row of `mlx-<bits>bit`: by hand, `mlx_lm.convert [-q --q-bits N]` then mlx_lm.load and the probe."""
    fmt = f"mlx-{bits or 16}bit"

    def run(setup: Setup, rounds: int) -> Row:
        row = Row(format=fmt)
        for round_ in range(rounds):
            out = setup.work / f"hand-{fmt}-{round_}"
            quantize = ["-q", "--q-bits", str(bits)] if bits else []
            convert = [sys.executable, "-m", "mlx_lm", "convert", "--hf-path", str(setup.merged), "--mlx-path", str(out), *quantize]
            convert_s, _ = timed(convert)
            probe_s, printed = timed([sys.executable, "-c", PROBE.format(load=MLX_LOAD), str(out), str(setup.reference)])
            row.hand_s.append(convert_s + probe_s)
            row.hand = json.loads(printed.strip().splitlines()[-1])
            wall, published = hubship_publish(setup, fmt, round_)
            row.hubship_s.append(wall)
            row.metrics = json.loads((published / "manifest.json").read_text())["verification"]["metrics"]
            row.size_bytes = folder_bytes(published)
            shutil.rmtree(out)
        return row

    return run


ROWS: dict[str, Callable[[Setup, int], Row]] = {"mlx-4bit": mlx_row(4), "mlx-8bit": mlx_row(8), "mlx-16bit": mlx_row(None)}


def prepare(size: str, work: Path) -> Setup:
    """The model, its checkpoint, and the warm workspace holding merged-16bit, the reference and gguf-q4_k_m."""
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    shape = dict(SIZES[size])
    extra = {"corpus": corpus(), "vocab_size": shape.pop("vocab_size")} if "vocab_size" in shape else {}
    workspace, dest, checkpoint = work / "ws-warm", work / "pub-warm", work / "model" / "checkpoint"
    if not dest.is_dir():  # a --work folder kept from an earlier run is reused
        HfDemoCheckpointFactory().create(work / "model", dtype="bfloat16", **shape, **extra)
        timed([sys.executable, "-m", "hubship", "publish", str(checkpoint), "-f", "merged-16bit,gguf-q4_k_m", "-w", str(workspace),
               "--to", f"dir:{dest}", "--quiet"])  # fmt: skip
    merged = next(dest.rglob("merged-16bit/manifest.json")).parent
    gguf = json.loads(next(dest.rglob("gguf-q4_k_m/manifest.json")).read_text())["verification"]["metrics"]
    reference = next(workspace.rglob("reference.safetensors"))
    return Setup(checkpoint, merged, reference, workspace, work, gguf)


def report(rows: list[Row], setup: Setup) -> None:
    print(f"{'format':<11} {'size MB':>8} {'mean_kl':>9} {'top1':>6} {'runtime_kl':>11} {'quant_kl':>9} "
          f"{'hubship s':>10} {'hand s':>7} {'b/a':>5} {'hand kl':>9} {'kl ratio':>9}")  # fmt: skip
    for row in rows:
        m, b, a = row.metrics, statistics.median(row.hubship_s), statistics.median(row.hand_s)
        ratio = m["mean_kl"] / row.hand["mean_kl"] if row.hand["mean_kl"] > 0 else float("nan")
        print(f"{row.format:<11} {row.size_bytes / 1e6:>8.2f} {m['mean_kl']:>9.4g} {m['top1_agreement']:>6.3f} {m['runtime_kl']:>11.3g} "
              f"{m['quantization_kl']:>9.4g} {b:>10.2f} {a:>7.2f} {b / a:>5.2f} {row.hand['mean_kl']:>9.4g} {ratio:>9.3f}")  # fmt: skip
        rounds = f"hubship {', '.join(f'{s:.2f}' for s in row.hubship_s)}; by hand {', '.join(f'{s:.2f}' for s in row.hand_s)}"
        print(f"{'':<11} rounds: {rounds}")
    g = setup.gguf_q4_k_m
    print(f"beside: gguf-q4_k_m of the same merged model (llama.cpp): mean_kl {g['mean_kl']:.4g}, top1 {g['top1_agreement']:.3f}")


def mlx_gate_table(work: Path) -> None:
    """`--gate`: mlx-4bit's default gate, figure by figure, on correct and broken merges of the lossy tiny model."""
    from hubship.adapters.mlx.mlx_lm_converter import MlxLmConverter
    from hubship.adapters.mlx.mlx_lm_verifier import MlxLmVerifier
    from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
    from hubship.adapters.torch.loader import HfTransformersLoader
    from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier
    from hubship.adapters.torch.streaming_merger import StreamingMerger
    from hubship.application.formats.mlx import MlxFormat
    from hubship.domain.checkpoint import BaseRef
    from hubship.domain.yardstick import LOSSY_CEILING, base_bound, ceiling
    from tests.fakes.progress import FakeProgress
    from tests.support.lossy_model import lossy_copy, scale_delta

    progress, reader = FakeProgress(), SafetensorsCheckpointReader()
    base, finetune = lossy_copy(HfDemoCheckpointFactory().create(work / "tiny", dtype="float32"), work / "lossy")
    info, verifier = HfTransformersLoader().base_info(BaseRef(path=str(base))), TorchLogitsVerifier()
    verifier.reference(reader.read(finetune), info, work / "finetune.ref", progress)
    verifier.reference(reader.read(base), info, work / "base.ref", progress)

    def figures(checkpoint: Path, reference: Path, out: Path) -> dict[str, float]:
        merged = out / "merged"
        merged.mkdir(parents=True)
        StreamingMerger().merge(reader.read(checkpoint), info, merged, dtype="bf16", max_shard_bytes=10**9, progress=progress)
        for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
            shutil.copy(finetune / name, merged / name)
        MlxLmConverter().convert(merged, out / "mlx", bits=4, progress=progress)
        return MlxLmVerifier().measure(out / "mlx", merged, reference, progress)

    defaults = MlxFormat(4).thresholds()
    on_base = figures(base, work / "base.ref", work / "base")
    # the yardstick only loosens a breached default (domain/yardstick.relaxed), up to its ceiling
    allowed = {
        m: min(max(b["max"], base_bound("max", on_base[m], b["max"])), ceiling("max", b["max"], LOSSY_CEILING)) for m, b in defaults.items()
    }
    bounds = ", ".join(f"{m} ≤ {b['max']:g}" for m, b in defaults.items())
    print(f"| mlx-4bit of | runtime_kl | quantization_kl | mean_kl | top1_agreement | default gate ({bounds}) | beside the base "
          f"({', '.join(f'{m} ≤ {v:.3g}' for m, v in allowed.items())}) |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = (("the base alone (yardstick)", None), ("the fine-tune, correct merge", 1.0), ("broken: adapter lost (delta x 0)", 0.0))
    for name, factor in (*rows, ("broken: delta x 0.5", 0.5), ("broken: delta x 2", 2.0)):
        if factor is None:
            found = on_base
        else:
            checkpoint = work / f"ft-{factor}"
            shutil.copytree(finetune, checkpoint)
            scale_delta(checkpoint, factor)
            found = figures(checkpoint, work / "finetune.ref", work / f"out-{factor}")
        default = [m for m, b in defaults.items() if found[m] > b["max"]]
        beside = [m for m in allowed if found[m] > allowed[m]]
        verdict = "pass" if not default else f"fail ({', '.join(default)})"
        relaxed = "—" if factor is None else ("pass" if not beside else f"fail ({', '.join(beside)})")
        losses = f"{found['runtime_kl']:.3g} | {found['quantization_kl']:.3g} | {found['mean_kl']:.3g} | {found['top1_agreement']:.3f}"
        print(f"| {name} | {losses} | {verdict} | {relaxed} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="small")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--formats", default=",".join(ROWS), help=f"rows to run, of: {', '.join(ROWS)}")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--gate", action="store_true", help="print mlx-4bit's default gate on correct and broken merges instead")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-serving-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.gate:
            mlx_gate_table(work)
            return
        setup = prepare(args.size, work)
        rows = [ROWS[name](setup, args.rounds) for name in args.formats.split(",")]
        report(rows, setup)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
