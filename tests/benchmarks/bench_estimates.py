"""Benchmark: `hubship plan`'s size and memory estimates against the real files and the measured peak RSS
(a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_estimates.py [--work DIR] [--layers 8]

For the tiny demo model and a synthetic bf16 Llama (bench_merge.build_model; 8 layers of hidden 1024 by
default, about 190M parameters), it reads the plan's estimates (`plan --json`), then builds the formats one
`hubship publish` at a time, each in a fresh measured process, in one workspace, so each run builds only
what the previous ones left: lora; reference-logits + merged-16bit; merged-4bit; gguf-intermediate +
gguf-q8_0; gguf-q4_k_m. Sizes are compared file by file with the plan; memory is the run's peak RSS (the
process, or a tool it ran, whichever is higher), against the largest estimate of the steps that run built
(estimates count the libraries a step runs on; the import baseline of torch, transformers, peft and
llama_cpp is printed for reference).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks.bench_merge import MEASURE, build_model

RUNS = ("lora", "merged-16bit", "merged-4bit", "gguf-q8_0", "gguf-q4_k_m")
IMPORTS = "import torch, transformers, peft, safetensors, llama_cpp"


def _measure(command: list[str]) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env=env, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"failed (exit {result['rc']}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return result


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def run(label: str, checkpoint: Path, scratch: Path) -> list[dict[str, object]]:
    """One model: every run's nodes, with their estimated and real sizes, estimated and measured memory."""
    workspace, out = scratch / "ws", scratch / "out"
    common = ["--workspace", str(workspace), "--to", f"dir:{out}", "--quiet", "--accept-quality-loss"]  # random weights
    plan = subprocess.run(
        [sys.executable, "-m", "hubship", "plan", str(checkpoint), "-f", ",".join(RUNS), *common, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    nodes = {n["format"]: n for n in json.loads(plan.stdout)["nodes"]}
    rows, built = [], set()
    for fmt in RUNS:
        measured = _measure([sys.executable, "-m", "hubship", "publish", str(checkpoint), "-f", fmt, *common])
        new = [f for f, n in nodes.items() if f not in built and (workspace / "artifacts" / n["key"]).is_dir()]
        built.update(new)
        estimate = max(nodes[f]["peak_memory_bytes"] for f in new) if new else 0
        for f in new:
            real = _size(workspace / "artifacts" / nodes[f]["key"])
            rows.append({"model": label, "run": fmt, "node": f, "size_est": nodes[f]["size_bytes"], "size_real": real})
        rows.append(
            {
                "model": label,
                "run": fmt,
                "node": "(run)",
                "mem_est": estimate,
                "mem_real": measured["peak_rss_bytes"],
                "wall_s": measured["wall_s"],
            }
        )
        print(f"{label} {fmt}: {measured['wall_s']:.0f} s, peak RSS {measured['peak_rss_bytes'] / 1e6:.0f} MB", flush=True)
    return rows


def report(rows: list[dict[str, object]]) -> None:
    print("\n| model | node | estimated size | real size | ratio |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        if "size_est" in r and r["size_real"]:
            print(f"| {r['model']} | {r['node']} | {r['size_est']:,} | {r['size_real']:,} | {r['size_est'] / r['size_real']:.3f} |")
    print("\n| model | run (steps it built) | estimated peak | measured peak RSS | ratio |\n| --- | --- | --- | --- | --- |")
    for r in rows:
        if "mem_est" in r:
            ratio = r["mem_est"] / r["mem_real"] if r["mem_real"] > 0 else float("nan")
            print(f"| {r['model']} | {r['run']} | {r['mem_est'] / 1e6:.0f} MB | {r['mem_real'] / 1e6:.0f} MB | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the models and outputs (default: a temporary one)")
    parser.add_argument("--layers", type=int, default=8, help="decoder layers of the synthetic Llama (default 8)")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-estimates-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

        _, tiny = HfDemoCheckpointFactory().create(root / "tiny", dtype="float32")
        _, big = build_model(root / "big", args.layers, tiny)
        baseline = _measure([sys.executable, "-c", IMPORTS])["peak_rss_bytes"]
        print(f"import baseline: peak RSS {baseline / 1e6:.0f} MB", flush=True)
        rows = run("tiny", tiny, root / "tiny-run") + run(f"llama-{args.layers}L", big, root / "big-run")
        report(rows)
        (root / "estimates.json").write_text(json.dumps(rows, indent=2))
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
