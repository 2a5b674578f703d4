"""Benchmark: low-bit GGUF quality with and without an importance matrix, and what the imatrix costs (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_imatrix.py [--hidden 1024] [--layers 11] [--work DIR] [--keep]

Builds a Llama locally (hubship's demo factory: random weights, a 320-token SentencePiece vocabulary, the
lm_head sharpened to 8 x the embeddings so next-token distributions have clear winners, as in the GGUF
tests) with a random LoRA, then publishes the same quantizations through `hubship publish` three ways:
  - `--imatrix off`: no imatrix;
  - `--imatrix on`: the imatrix from hubship's default calibration set (diverse text + chats rendered with
    the checkpoint's template);
  - `--imatrix on --calibration narrow.jsonl`: an imatrix from narrow chat data (one kind of exchange,
    arithmetic questions), like a fine-tune's own data;
and reads each quantization's mean KL against base + adapter (unmerged) from its manifest. It also times
`llama-imatrix` over the default set on the merged model, and extrapolates to a 7B model by parameter count
(the forward pass dominates; attention over 512-token chunks is a small share).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.support and tests.fakes

from hubship.domain.gguf_quants import QUANTS as ALL_QUANTS  # noqa: E402

NEEDS = {q.name: q.needs_imatrix for q in ALL_QUANTS}
QUANTS = ("Q4_K_M", "Q3_K_M", "Q2_K", "IQ3_XXS", "IQ2_XS")
SEVEN_B = 7.0e9


def hubship(*args: str) -> float:
    """Run `hubship publish ...` in a fresh process (random weights break the default quality bounds); its wall time in seconds."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "hubship", *args, "--quiet", "--accept-quality-loss"]  # measuring, not gating
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"hubship {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return time.perf_counter() - start


def narrow_calibration(path: Path) -> Path:
    """Narrow chat data: 400 arithmetic exchanges, one JSONL conversation each."""
    lines = []
    for i in range(400):
        a, b = 3 * i + 7, 5 * i + 2
        chat = [{"role": "user", "content": f"What is {a} plus {b}?"}, {"role": "assistant", "content": f"{a} plus {b} is {a + b}."}]
        lines.append(json.dumps({"messages": chat}))
    path.write_text("\n".join(lines) + "\n")
    return path


def mean_kl(out: Path, label: str, quant: str) -> tuple[float, str]:
    """(mean KL, the imatrix it used or "none") of one quantization of one run."""
    manifest = out / label / "bench" / f"gguf-{quant.lower()}" / "manifest.json"
    metrics = json.loads(manifest.read_text())["verification"]["metrics"]
    return metrics["mean_kl"], metrics.get("imatrix", "none")


def time_imatrix(workspace: Path) -> tuple[float, float, float]:
    """(seconds, chunks, chunks of a Llama-style tokenizer) of llama-imatrix over the default set, run again on the
    built intermediate. The demo's 320-token vocabulary cuts text into about 3 times more tokens than a real one;
    English runs about 4 characters a token with a Llama-style tokenizer."""
    from hubship.adapters.llama_cpp.imatrix_tools import LlamaCppImatrixTools
    from hubship.application.formats.gguf_imatrix import IMATRIX_INFO
    from hubship.application.formats.imatrix_calibration import DEFAULT_LABEL
    from tests.fakes.progress import FakeProgress

    infos = (workspace / "artifacts").glob(f"*/{IMATRIX_INFO}")
    folder = next(p.parent for p in infos if json.loads(p.read_text()).get("source") == DEFAULT_LABEL)
    intermediate = next(p for p in (workspace / "artifacts").glob("*/*.gguf") if p.name.endswith((".F32.gguf", ".BF16.gguf", ".F16.gguf")))
    with tempfile.TemporaryDirectory() as tmp:
        calibration = Path(tmp) / "calibration.txt"
        shutil.copyfile(folder / "calibration.txt", calibration)
        start = time.perf_counter()
        figures = LlamaCppImatrixTools().compute(intermediate, calibration, Path(tmp) / "x.imatrix.gguf", progress=FakeProgress())
        seconds = time.perf_counter() - start
    return seconds, figures["chunks"], len((folder / "calibration.txt").read_text()) / 4 / 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=11)
    parser.add_argument("--work", type=Path, default=None, help="folder for the model and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-bench-imatrix-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        from safetensors import safe_open

        from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
        from tests.support.sharp_model import sharpened_copy

        random = HfDemoCheckpointFactory().create(root / "random", dtype="float32", hidden_size=args.hidden, layers=args.layers)
        base, checkpoint = sharpened_copy(random, root / "model")
        with safe_open(str(base / "model.safetensors"), "np") as tensors:
            params = sum(math.prod(tensors.get_slice(k).get_shape()) for k in tensors.keys())  # noqa: SIM118
        print(
            f"model: random Llama, {params / 1e6:.1f}M parameters (fp32), hidden {args.hidden}, {args.layers} layers;"
            f" {os.cpu_count()} cores",
            flush=True,
        )
        workspace, out = root / "ws", root / "pub"
        formats = ",".join(f"gguf-{q.lower()}" for q in QUANTS)
        runs = {
            "off": ["--imatrix", "off"],
            "default": ["--imatrix", "on"],
            "narrow": ["--imatrix", "on", "--calibration", str(narrow_calibration(root / "narrow.jsonl"))],
            "auto": [],
        }
        walls = {}
        for label, extra in runs.items():
            wanted = formats if label != "off" else ",".join(f"gguf-{q.lower()}" for q in QUANTS if not NEEDS[q])
            target = f"dir:{out / label}"  # one name, so the runs share the merge and the conversion
            walls[label] = hubship("publish", str(checkpoint), "-f", wanted, "-n", "bench", "-w", str(workspace), "--to", target, *extra)
            print(f"publish --imatrix {label}: {walls[label]:.1f} s", flush=True)
        seconds, chunks, real_chunks = time_imatrix(workspace)
        per_chunk = seconds / chunks
        print(
            f"\nllama-imatrix over the default set: {chunks:.0f} chunks of 512 tokens in {seconds:.1f} s ({per_chunk:.2f} s a chunk);"
            f" a 7B model, where the set is about {real_chunks:.0f} chunks, would take about"
            f" {per_chunk * SEVEN_B / params * real_chunks / 60:.0f} min on this machine (scaled by parameter count)\n"
        )
        print("| quant | no imatrix | imatrix, default set | imatrix, narrow chat data | `--imatrix auto` keeps |")
        print("| --- | --- | --- | --- | --- |")
        for quant in QUANTS:
            off = "refused without an imatrix" if NEEDS[quant] else f"{mean_kl(out, 'off', quant)[0]:.4g}"
            kept = mean_kl(out, "auto", quant)[1]
            print(
                f"| {quant.lower()} | {off} | {mean_kl(out, 'default', quant)[0]:.4g} | {mean_kl(out, 'narrow', quant)[0]:.4g}"
                f" | {'with' if kept != 'none' else 'without'} |"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
