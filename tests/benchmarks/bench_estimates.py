"""Benchmark: `hubship plan`'s size and memory estimates against the real files and each step's measured peak RSS
(a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_estimates.py [--work DIR] [--layers 8,16]

For the tiny demo model and synthetic bf16 Llamas (bench_merge.build_model: hidden 1024, vocabulary 32000,
8 and 16 decoder layers by default, about 190M and 310M parameters), it reads the plan's estimates (`plan
--json`), then builds the formats one `hubship publish` at a time, each a fresh process, in one workspace,
so each run builds only what the previous ones left: lora; gguf-lora; reference-logits + merged-16bit;
merged-4bit; gguf-intermediate + gguf-q8_0; gguf-q4_k_m; gguf-imatrix + gguf-q3_k_m (with and without the
imatrix, when llama.cpp's tools are built); ollama-q4_k_m (an `ollama:` destination with no server running:
its files only). Each publish runs under step_memory.py, which
splits it at hubship's progress events into steps, one per plan node built, and measures each step's peak
RSS: the hubship process's (its high-water mark, reset at each step) and that of the tools it starts
(llama.cpp's converter), the higher of the two being the step's peak, as the estimate counts it. Every
ratio estimate / measured is printed, per model, run and step; sizes are compared file by file.
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

RUNS = ("lora", "gguf-lora", "merged-16bit", "merged-4bit", "gguf-q8_0", "gguf-q4_k_m", "gguf-q3_k_m", "ollama")
IMPORTS = "import torch, transformers, peft, safetensors, llama_cpp"
STEP_MEMORY = Path(__file__).with_name("step_memory.py")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
OLLAMA = ("--to", "ollama:bench-estimates", "--allow-generic-template")  # the synthetic Llamas have no chat template
TOLERANCE = 0.25  # the bound the estimates are held to: within 25% of the measured peak


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _imatrix_tools() -> bool:
    """Whether llama.cpp's tools are built (`make setup`): gguf-q3_k_m's importance matrix needs llama-imatrix."""
    from hubship.adapters.llama_cpp import tools_build

    return tools_build.built_version(tools_build.tools_home()) is not None


def _steps(args: list[str], report: Path) -> list[dict[str, object]]:
    """One `hubship ARGS` under step_memory.py: each step's peaks."""
    done = subprocess.run([sys.executable, str(STEP_MEMORY), str(report), *args], capture_output=True, text=True, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"failed (exit {done.returncode}): hubship {' '.join(args)}\n{done.stderr[-2000:]}")
    return json.loads(report.read_text())


def run(label: str, checkpoint: Path, scratch: Path, wanted: tuple[str, ...] = RUNS) -> list[dict[str, object]]:
    """One model: every built node's estimated and real size, estimated and measured peak memory."""
    workspace, out = scratch / "ws", scratch / "out"
    common = ["--workspace", str(workspace), "--to", f"dir:{out}", "--quiet", "--accept-quality-loss"]  # random weights
    runs = tuple(r for r in wanted if r != "gguf-q3_k_m" or _imatrix_tools())
    formats = ",".join(r for r in runs if r != "ollama")
    plan = subprocess.run(
        [sys.executable, "-m", "hubship", "plan", str(checkpoint), "-f", formats, *common, *OLLAMA, "--json"],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    nodes = {n["format"]: n for n in json.loads(plan.stdout)["nodes"]}
    rows = []
    for fmt in runs:
        args = ["-f", "gguf-q4_k_m", *OLLAMA] if fmt == "ollama" else ["-f", fmt]  # no server: the files only
        try:
            steps = _steps(["publish", str(checkpoint), *args, *common], scratch / f"{fmt}.steps.json")
        except SystemExit as failed:  # reported, and the next runs still measured
            print(f"{label} {fmt}: {failed}", flush=True)
            rows.append({"model": label, "run": fmt, "step": "(failed)", "main": 0, "tools": 0, "tree": 0, "measured": 0})
            continue
        for step in steps:
            node = nodes.get(str(step["step"]))
            row = {"model": label, "run": fmt, **step, "measured": max(int(step["main"]), int(step["tools"]))}
            if node is not None:
                real = _size(workspace / "artifacts" / node["key"])
                row.update(mem_est=node["peak_memory_bytes"], size_est=node["size_bytes"], size_real=real)
            rows.append(row)
        print(f"{label} {fmt}: " + ", ".join(f"{s['step']} {max(int(s['main']), int(s['tools'])) / 1e6:.0f} MB" for s in steps), flush=True)
    return rows


def report(rows: list[dict[str, object]]) -> None:
    print("\n| model | node | estimated size | real size | ratio |\n| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        if r.get("size_real"):
            print(f"| {r['model']} | {r['step']} | {r['size_est']:,} | {r['size_real']:,} | {r['size_est'] / r['size_real']:.3f} |")
    print(
        "\n| model | run | step | estimated peak | measured peak (hubship / tool / tree) | ratio |"
        "\n| --- | --- | --- | ---: | ---: | ---: |"
    )
    outside = []
    for r in rows:
        figures = f"{r['measured'] / 1e6:.0f} MB ({r['main'] / 1e6:.0f} / {r['tools'] / 1e6:.0f} / {r['tree'] / 1e6:.0f})"
        if r["step"] == "(failed)":
            print(f"| {r['model']} | {r['run']} | (the run failed: see above) | | | |")
            continue
        if "mem_est" not in r:
            print(f"| {r['model']} | {r['run']} | {r['step']} | (not a plan node) | {figures} | |")
            continue
        ratio = r["mem_est"] / r["measured"]
        if abs(ratio - 1) > TOLERANCE:
            outside.append(f"{r['model']} {r['step']} {ratio:.2f}")
        print(f"| {r['model']} | {r['run']} | {r['step']} | {r['mem_est'] / 1e6:.0f} MB | {figures} | {ratio:.2f} |")
    print(f"\nsteps outside {TOLERANCE:.0%}: {', '.join(outside) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the models and outputs (default: a temporary one)")
    parser.add_argument("--layers", default="8,16", help="decoder layers of the synthetic Llamas (default 8,16)")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"the runs, in order (default {','.join(RUNS)})")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-estimates-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

        _, tiny = HfDemoCheckpointFactory().create(root / "tiny", dtype="float32")
        done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-c", IMPORTS], capture_output=True, text=True, check=True)
        baseline = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_bytes"]
        print(f"import baseline ({IMPORTS}): peak RSS {baseline / 1e6:.0f} MB; load average {os.getloadavg()[0]:.1f}", flush=True)
        wanted = tuple(args.runs.split(","))
        rows = run("tiny", tiny, root / "tiny-run", wanted)
        for layers in [int(n) for n in args.layers.split(",") if n]:
            _, big = build_model(root / f"llama-{layers}", layers, tiny)
            rows += run(f"llama-{layers}L", big, root / f"llama-{layers}-run", wanted)
        report(rows)
        (root / "estimates.json").write_text(json.dumps(rows, indent=2))
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
