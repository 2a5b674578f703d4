"""Benchmark: GGUF export by hand against `hubship publish` of the same three quantizations (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_gguf.py [--work DIR] [--keep]

Builds a Llama of about 170M parameters in bf16 (hidden 1024, 11 layers, a 32,000-token SentencePiece vocabulary
trained on the running Python's standard library sources, untied head) with a LoRA checkpoint, all locally.
Then, from that checkpoint, it times what issue 14 compares:
  (a) by hand: peft's merge in a fresh process (load, merge_and_unload, save_pretrained), llama.cpp's
      converter CLI (convert_hf_to_gguf.py --outtype bf16, the merged model's own lossless type) on the
      merged folder, then llama_model_quantize to Q8_0, Q4_K_M and Q5_K_M on all cores, each step alone;
  (b) `hubship publish --format gguf-q8_0,gguf-q4_k_m,gguf-q5_k_m` in a fresh process with an empty
      workspace (plan, preflight, the reference probe, the merge and its check, one conversion, three
      quantizations, the check and chat proof of each, hashing, publishing);
  (c) the same with --verify off.
in --rounds interleaved rounds (default 3), and reports every round, then the first (cold) round, which is
what a first publish of a tokenizer costs (hubship's preflight also converts its vocab-only GGUF, kept for
the later rounds), and the median round by b/a: their b/a (target <= 1.1), c/a (target <= 0.8) and
verification's share of (b), (b - c) / b. Last, (d): an unchanged re-publish of lora,merged-16bit,gguf-q8_0
(nothing to build or publish), fastest of 3 fresh processes (target <= 1 s).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUANTS = ("Q8_0", "Q4_K_M", "Q5_K_M")
FORMATS = ",".join(f"gguf-{q.lower()}" for q in QUANTS)
HIDDEN, LAYERS, VOCAB = 1024, 11, 32_000
PEFT_MERGE = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base, adapter, out = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
PeftModel.from_pretrained(model, adapter).merge_and_unload().save_pretrained(out)
AutoTokenizer.from_pretrained(adapter).save_pretrained(out)
"""


def corpus() -> list[str]:
    """The non-blank lines of the running Python's standard library sources: a local text for a real-size vocabulary."""
    lines = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("**/*.py")):
        if "site-packages" not in path.parts and "dist-packages" not in path.parts:
            lines += [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines


def noop_republish(checkpoint: Path, root: Path, workspace: Path, runs: int = 3) -> list[float]:
    """(d): publish lora,merged-16bit,gguf-q8_0 once, then the same command `runs` times; their wall times."""
    args = ("publish", str(checkpoint), "-f", "lora,merged-16bit,gguf-q8_0", "-w", str(workspace), "-n", "noop")
    hubship(*args, "--to", f"dir:{root / 'pub-noop'}")
    return sorted(hubship(*args, "--to", f"dir:{root / 'pub-noop'}") for _ in range(runs))


def hubship(*args: str) -> float:
    """Run `hubship ARGS` in a fresh process; its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "hubship", *args, "--quiet"], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hubship {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return wall


def by_hand(base: Path, checkpoint: Path, out: Path) -> dict[str, float]:
    """(a): peft's merge, the converter's own CLI, then each quantization through llama.cpp's quantize API; seconds
    per step."""
    import llama_cpp

    from hubship.adapters.llama_cpp.install import converter_home

    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # no per-tensor log lines

    out.mkdir(parents=True, exist_ok=True)
    home, source, merged = converter_home(), out / "model.BF16.gguf", out / "merged"
    env = {**os.environ, "PYTHONPATH": str(home / "gguf-py")}
    steps: dict[str, float] = {}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", PEFT_MERGE, str(base), str(checkpoint), str(merged)], check=True, capture_output=True)
    steps["peft merge"] = time.perf_counter() - start
    start = time.perf_counter()
    convert = [sys.executable, str(home / "convert_hf_to_gguf.py"), str(merged), "--outtype", "bf16", "--outfile", str(source)]
    subprocess.run(convert, env=env, check=True, capture_output=True)
    steps["convert"] = time.perf_counter() - start
    for quant in QUANTS:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quant}")
        params.nthread = os.cpu_count() or 0
        start = time.perf_counter()
        if llama_cpp.llama_model_quantize(str(source).encode(), str(out / f"model.{quant}.gguf").encode(), ctypes.byref(params)) != 0:
            raise SystemExit(f"quantizing to {quant} failed")
        steps[f"quantize {quant}"] = time.perf_counter() - start
    return steps


def main() -> None:
    from bytecode import compile_hubship

    compile_hubship()  # measure hubship as installed, with its bytecode
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the model and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (a), (b), (c); the median is reported")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-bench-gguf-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        from safetensors import safe_open

        from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

        made = HfDemoCheckpointFactory().create(
            root / "model", dtype="bfloat16", hidden_size=HIDDEN, layers=LAYERS, corpus=corpus(), vocab_size=VOCAB
        )
        base, checkpoint = made
        with safe_open(str(base / "model.safetensors"), "np") as weights:
            params = sum(math.prod(weights.get_slice(k).get_shape()) for k in weights.keys())  # noqa: SIM118
        vocab = json.loads((base / "config.json").read_text())["vocab_size"]
        if vocab != VOCAB:
            raise SystemExit(f"the tokenizer has {vocab} tokens, not {VOCAB}: the corpus ran out of merges")
        print(f"model: {params / 1e6:.1f}M parameters (bf16), vocabulary {vocab}, {os.cpu_count()} cores", flush=True)
        rounds = []
        for i in range(1, args.rounds + 1):  # interleaved, so a busy moment of the machine hits every kind of run
            load = os.getloadavg()[0]
            steps = by_hand(base, checkpoint, root / f"by-hand-{i}")
            common = ["-f", FORMATS, "-n", f"bench-{i}"]  # each run from nothing: an empty workspace
            b = hubship("publish", str(checkpoint), *common, "-w", str(root / f"ws-b{i}"), "--to", f"dir:{root / 'pub'}")
            c = hubship(
                "publish", str(checkpoint), *common, "-w", str(root / f"ws-c{i}"), "--verify", "off", "--to", f"dir:{root / 'pub-off'}"
            )
            rounds.append((i, steps, sum(steps.values()), b, c))
            a = rounds[-1][2]
            print(
                f"round {i}: a {a:.2f} s ({', '.join(f'{k} {v:.2f}' for k, v in steps.items())})  b {b:.2f} s  c {c:.2f} s"
                f"  b/a {b / a:.3f}  c/a {c / a:.3f}  (load average {load:.1f} at its start)",
                flush=True,
            )

        median = sorted(rounds, key=lambda r: r[3] / r[2])[len(rounds) // 2]  # the median round by b/a
        for title, (i, steps, a, b, c) in (("cold: the first round", rounds[0]), ("median round by b/a", median)):
            print(f"\n## {title} (round {i})\n(a) by hand")
            for step, seconds in steps.items():
                print(f"  {step:18s} {seconds:7.2f} s")
            print(f"  {'total':18s} {a:7.2f} s")
            print(f"(b) hubship publish --format {FORMATS}: {b:7.2f} s")
            print(f"(c) the same with --verify off: {c:7.2f} s")
            print(
                f"b/a = {b / a:.3f} (target <= 1.1); c/a = {c / a:.3f} (target <= 0.8);"
                f" verification's share of (b) = {100 * (b - c) / b:.1f}%"
            )
        for quant in QUANTS:
            manifest = json.loads((root / "pub" / "bench-1" / f"gguf-{quant.lower()}" / "manifest.json").read_text())
            metrics = manifest["verification"]["metrics"]
            print(
                f"  {quant:7s} {metrics['file_size_bytes'] / 1e6:7.1f} MB  {metrics['bits_per_weight']:5.2f} bpw"
                f"  mean KL {metrics.get('mean_kl', float('nan')):.4g}  top-1 {metrics.get('top1_agreement', float('nan')):.3f}"
            )
        noop = noop_republish(checkpoint, root, root / "ws-noop")
        print(
            f"(d) unchanged re-publish of lora,merged-16bit,gguf-q8_0: {noop[0]:.2f} s"
            f" (runs: {', '.join(f'{w:.2f}' for w in noop)}; target <= 1.0 s)"
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
