"""Benchmark: an 8B-shaped publish end to end on this machine (a script, opt-in, never in CI).

Run:  .venv/bin/python tests/benchmarks/bench_large.py [--shape 8b|1b|tiny] [--work DIR] [--keep] [--runs bcda]

Writes a Llama-3.1-8B-shaped model with random bf16 weights (hidden 4096, 32 layers, 32 heads with 8 KV heads,
MLP 14336, the real vocabulary of 128,256 rows, untied head; about 16 GB of safetensors in shards of at most
5 GB, written a tensor at a time) and an r=16 LoRA on every linear layer of every decoder layer, with a small
local SentencePiece tokenizer (the converter pads the vocabulary to the model's rows). Then, each from nothing
and each measured in a fresh process (wall time, peak RSS of the process and what it ran, the most disk the
run held at once in its own folders, sampled every half second, and what is left in them at the end):
  (b) `hubship publish -f merged-16bit,gguf-q8_0,gguf-q4_k_m`, verification on (every check runs in full; with
      `--accept-quality-loss`, since random weights lose more to quantization than a trained model's: Q4_K_M
      measured KL 0.77 against its default bound 0.12, and the model is too big for the base yardstick's second
      chain beside it on this disk);
  (c) the same with `--verify off`, in a fresh workspace (a reused one would find everything built);
  (d) `-f merged-16bit` alone, verified (the peak RSS of the merge step and its check: the publish's own peak in
      (b) includes the GGUF steps, which map their files);
  (a) the hand chain: peft's load + merge_and_unload + save_pretrained, llama.cpp's converter to a bf16 GGUF,
      and llama-quantize to Q8_0 and to Q4_K_M (each timed);
and prints b/a, c/a, and the disk `hubship plan` announced beside the most it took. Each run's outputs are
deleted before the next. The free disk is checked first, against what the shape needs (base, merged copy,
bf16 GGUF, two quantizations, and a margin); the script says what it needs and stops if it is not there.

--shape tiny (4 layers of hidden 256, the same 128,256-row vocabulary: seconds) and 1b check the script itself.
The 8b shape needs about 23 GB of RAM for peft's whole-model merge, about 62 GB of disk, and an hour or more on
2 cores: run it in the background (`nohup ... &`), on a machine nobody else is measuring on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from large_model import SHAPES, build_model, model_bytes  # noqa: E402

FORMATS = "merged-16bit,gguf-q8_0,gguf-q4_k_m"
QUANTS = ("Q8_0", "Q4_K_M")
GB = 1000**3
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
print(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""
PEFT_MERGE = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
base, adapter, out = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
PeftModel.from_pretrained(model, adapter).merge_and_unload().save_pretrained(out, max_shard_size="5GB")
AutoTokenizer.from_pretrained(adapter).save_pretrained(out)
"""


def folder_bytes(*folders: Path) -> int:
    """Bytes the folders' files take (each hard-linked file once)."""
    seen, total = set(), 0
    for folder in folders:
        for path in folder.rglob("*") if folder.exists() else ():
            if path.is_file() and not path.is_symlink():
                stat = path.stat()
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_size
    return total


def measured(command: list[str], folders: tuple[Path, ...], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `command` in a fresh process: wall time, peak RSS (the process and what it waited for), and the most
    disk its `folders` held at once (sampled every 0.5 s: the volume's free space would count other users' files)."""
    highest = [folder_bytes(*folders)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            highest[0] = max(highest[0], folder_bytes(*folders))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        run = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env={**os.environ, **(env or {})})
    finally:
        done.set()
        sampler.join()
    if run.returncode != 0 or not run.stdout.strip():
        raise SystemExit(f"benchmark step failed: {' '.join(command)}\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"benchmark step failed (exit {result['rc']}): {' '.join(command)}\n{run.stderr[-3000:]}")
    return {**result, "disk_peak_bytes": max(highest[0], folder_bytes(*folders))}


def planned_disk(checkpoint: Path, workspace: Path, out: Path) -> int:
    """What `hubship plan` announces the publish needs on disk."""
    plan = subprocess.run(
        [sys.executable, "-m", "hubship", "plan", str(checkpoint), "-f", FORMATS, "-w", str(workspace), "--to", f"dir:{out}", "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    if plan.returncode != 0:
        raise SystemExit(f"hubship plan failed: {plan.stderr[-2000:]}")
    return int(json.loads(plan.stdout)["resources"]["disk_needed_bytes"])


def hand_chain(base: Path, ckpt: Path, out: Path) -> dict[str, dict[str, float]]:
    """(a): peft's merge, the converter's CLI to a bf16 GGUF, llama-quantize to each of QUANTS; each step measured."""
    from hubship.adapters.llama_cpp.install import converter_home
    from hubship.adapters.llama_cpp.tools_build import tool_path, tools_home

    home, merged, source = converter_home(), out / "merged", out / "model.BF16.gguf"
    out.mkdir(parents=True)
    steps = {"peft merge": measured([sys.executable, "-c", PEFT_MERGE, str(base), str(ckpt), str(merged)], (out,))}
    convert = [sys.executable, str(home / "convert_hf_to_gguf.py"), str(merged), "--outtype", "bf16", "--outfile", str(source)]
    steps["convert"] = measured(convert, (out,), {"PYTHONPATH": str(home / "gguf-py")})
    quantize = str(tool_path(tools_home(), "llama-quantize"))
    for quant in QUANTS:
        steps[f"quantize {quant}"] = measured([quantize, str(source), str(out / f"model.{quant}.gguf"), quant], (out,))
    return steps


def _line(label: str, m: dict[str, float], left: int) -> str:
    return (
        f"{label:34s} {m['wall_s']:8.1f} s   peak RSS {m['peak_rss_bytes'] / 1e9:6.2f} GB"
        f"   disk at most {m['disk_peak_bytes'] / 1e9:6.2f} GB"
        f"   left {left / 1e9:6.2f} GB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="8b", help="the model's shape (default 8b; tiny checks the script)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the model and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the model (its outputs are always deleted)")
    parser.add_argument("--runs", default="bcda", help="which runs, by letter (default bcda: all; b: the verified publish alone)")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-bench-large-"))
    root.mkdir(parents=True, exist_ok=True)
    size = model_bytes(args.shape)
    # the base, then the most one run holds: a merged copy, the bf16 GGUF, Q8_0 (about 0.53x) and Q4_K_M (about
    # 0.3x), plus a tenth for the adapter, tokenizers, references and the filesystem
    needed = int((size + size * (1 + 1 + 0.53 + 0.3)) * 1.1)
    free = shutil.disk_usage(root).free
    print(
        f"shape {args.shape}: {size / 1e9:.1f} GB of bf16 weights;"
        f" needs about {needed / 1e9:.0f} GB of disk in {root}, {free / 1e9:.0f} GB free"
    )
    if free < needed:
        raise SystemExit(
            f"not enough disk in {root}: {needed / 1e9:.0f} GB needed, {free / 1e9:.0f} GB free; pass --work on a larger volume"
        )
    try:
        started = time.perf_counter()
        base, ckpt = build_model(root / "model", args.shape)
        shards = len(list(base.glob("*.safetensors")))
        print(f"model written in {time.perf_counter() - started:.0f} s: {shards} shards, {os.cpu_count()} cores", flush=True)
        env = {"HF_HUB_OFFLINE": "1"}
        results: dict[str, dict[str, float]] = {}
        announced = planned_disk(ckpt, root / "ws-plan", root / "out-plan")
        shutil.rmtree(root / "ws-plan", ignore_errors=True)
        runs = [
            ("(b) hubship, verified", FORMATS, []),
            ("(c) hubship --verify off", FORMATS, ["--verify", "off"]),
            ("(d) merged-16bit alone, verified", "merged-16bit", []),  # the merge step's own peak RSS (target 2.5 GB at 8B)
        ]
        for label, formats, extra in runs:
            if label[1] not in args.runs:
                continue
            ws, out = root / "ws", root / "out"
            command = [
                sys.executable,
                "-m",
                "hubship",
                "publish",
                str(ckpt),
                "-f",
                formats,
                "-w",
                str(ws),
                "--to",
                f"dir:{out}",
                "--quiet",
                "--accept-quality-loss",  # random weights: measured and recorded in full, not a reason to stop
                *extra,
            ]
            results[label] = measured(command, (ws, out), env)
            print(_line(label, results[label], folder_bytes(ws, out)), flush=True)
            shutil.rmtree(ws)  # the next run starts from nothing: a fresh workspace
            shutil.rmtree(out)
        if "a" not in args.runs:
            return
        steps = hand_chain(base, ckpt, root / "hand")
        left = folder_bytes(root / "hand")
        shutil.rmtree(root / "hand")
        for step, m in steps.items():
            print(_line(f"(a) {step}", m, 0))
        hand = {
            "wall_s": sum(m["wall_s"] for m in steps.values()),
            "peak_rss_bytes": max(m["peak_rss_bytes"] for m in steps.values()),
            "disk_peak_bytes": max(m["disk_peak_bytes"] for m in steps.values()),  # the folder holds every step's outputs
        }
        print(_line("(a) hand chain, total", hand, left))
        print(f"\n## ratios ({args.shape}, {os.cpu_count()} cores)")
        for label in ("(b) hubship, verified", "(c) hubship --verify off"):
            m = results[label]
            print(
                f"{label}: wall {m['wall_s'] / hand['wall_s']:.2f} x the hand chain"
                f" (target {'<= 1.25' if 'verified' in label else 'none'}), peak RSS {m['peak_rss_bytes'] / hand['peak_rss_bytes']:.2f} x,"
                f" disk at most {m['disk_peak_bytes'] / 1e9:.2f} GB against {announced / 1e9:.2f} GB announced by plan"
                f" ({'within' if m['disk_peak_bytes'] <= announced else 'OVER'})"
            )
    finally:
        for name in ("ws", "out", "hand", "ws-plan", "out-plan"):
            shutil.rmtree(root / name, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
