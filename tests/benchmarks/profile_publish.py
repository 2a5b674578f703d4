"""Profile: where a publish's time goes, step by step (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/profile_publish.py [--work DIR] [--keep] [--hidden 1024] [--layers 14]

Builds a Llama of about 135M parameters in bf16 (hidden 1024, 14 layers, a LoRA on every linear) and
publishes `lora,merged-16bit,gguf-q8_0` to a dir: destination in a fresh process, twice:
  fresh     from an empty workspace (every step runs);
  no-op     the same command again (nothing to build or publish).
Each run writes hubship's progress events (HUBSHIP_PROGRESS_EVENTS); the timeline between events is split
into segments, each charged to the innermost running step, or, between steps, to the last message
("building X"), so the rows add up to the wall time. The first row is everything before the first event
(interpreter start, imports, reading the checkpoint, the plan's preflight). For the no-op run it also
reports the files under the model, workspace and destination that Python opened (an audit hook) and the
bytes the process read (/proc/self/io rchar, libraries included), and the slowest imports (-X importtime).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORMATS = "lora,merged-16bit,gguf-q8_0"
# The child: an audit hook records every file Python opens under the watched folders, then hubship runs as
# `python -m hubship`; at exit it prints those files and the process's read bytes as one JSON line on fd PROFILE_FD.
CHILD = """
import atexit, json, os, runpy, sys
watched, opened = tuple(sys.argv[1].split(os.pathsep)), set()
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if path.startswith(watched) and not os.path.isdir(path):
            opened.add(path)
sys.addaudithook(hook)
def report():
    rchar = int(next(l for l in open("/proc/self/io") if l.startswith("rchar")).split()[1])
    os.write(int(os.environ["PROFILE_FD"]), (json.dumps({"opened": sorted(opened), "rchar": rchar}) + "\\n").encode())
atexit.register(report)
sys.argv = ["hubship", *sys.argv[2:]]
runpy.run_module("hubship", run_name="__main__", alter_sys=True)
"""


def timeline(events: list[dict], started: float, ended: float) -> list[tuple[str, float]]:
    """(label, seconds) per segment between events, charged to the innermost open step or the last message."""
    rows: dict[str, float] = {"process start, imports, read checkpoint, plan preflight": events[0]["time"] - started if events else 0}
    open_tasks: list[str] = []
    label, last = "", events[0]["time"] if events else started
    for event in events:
        where = open_tasks[-1] if open_tasks else (f"after: {label}" if label else "between steps")
        rows[where] = rows.get(where, 0.0) + max(0.0, event["time"] - last)
        last = event["time"]
        if event["event"] == "start":
            open_tasks.append(event["task"])
        elif event["event"] == "end" and event["task"] in open_tasks:
            open_tasks.remove(event["task"])
        elif event["event"] == "message":
            label = event["text"]
    rows["after the last event (summary, exit)"] = max(0.0, ended - last)  # that segment alone, not its label's total
    return [(k, v) for k, v in rows.items() if v >= 0.005]


def publish(python: str, checkpoint: Path, work: Path, watched: list[Path], importtime: bool = False) -> dict:
    """One `hubship publish` in a fresh process: wall seconds, the step timeline, files opened, bytes read."""
    events = work / "events.jsonl"
    events.unlink(missing_ok=True)
    args = [str(checkpoint), "-f", FORMATS, "-w", str(work / "ws"), "--to", f"dir:{work / 'pub'}", "-n", "demo", "--quiet"]
    command = [python, *(["-X", "importtime"] if importtime else []), "-c", CHILD, os.pathsep.join(map(str, watched)), "publish", *args]
    read, write = os.pipe()
    env = {**os.environ, "HUBSHIP_PROGRESS_EVENTS": str(events), "HF_HUB_OFFLINE": "1", "PROFILE_FD": str(write)}
    started = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, pass_fds=(write,))
    ended = time.time()
    os.close(write)
    with os.fdopen(read) as fh:
        io = json.loads(fh.read().strip().splitlines()[-1])
    if done.returncode != 0:
        raise SystemExit(f"publish failed (exit {done.returncode}): {done.stderr[-2000:]}")
    lines = [json.loads(line) for line in events.read_text().splitlines()] if events.is_file() else []
    return {"wall_s": ended - started, "steps": timeline(lines, started, ended), **io, "stderr": done.stderr}


def slowest_imports(stderr: str, top: int = 12) -> list[tuple[str, float]]:
    """The top-level imports (direct children of the program) by cumulative time, from -X importtime output."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|")
            if cumulative.strip().isdigit() and not name.startswith("  "):
                rows.append((name.strip(), int(cumulative) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:top]


def show(title: str, run: dict) -> None:
    print(f"\n## {title}: {run['wall_s']:.2f} s wall")
    for label, seconds in run["steps"]:
        print(f"  {seconds:7.2f} s  {100 * seconds / run['wall_s']:5.1f}%  {label}")


def main() -> None:
    from bytecode import compile_hubship

    compile_hubship()  # measure hubship as installed, with its bytecode
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the model and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=3, help="no-op runs; the fastest counts (default 3)")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-profile-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

        base, checkpoint = HfDemoCheckpointFactory().create(root / "model", hidden_size=args.hidden, layers=args.layers)
        size = sum(p.stat().st_size for p in base.glob("*.safetensors"))
        print(f"model: {size / 1e9:.3f} GB of bf16 weights; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
        watched = [root / "model", root / "ws", root / "pub"]
        fresh = publish(sys.executable, checkpoint, root, watched)
        show(f"fresh publish -f {FORMATS}", fresh)
        noops = [publish(sys.executable, checkpoint, root, watched) for _ in range(args.repeat)]
        noop = min(noops, key=lambda r: r["wall_s"])
        runs = ", ".join(f"{r['wall_s']:.2f}" for r in noops)
        show(f"unchanged re-publish (fastest of {args.repeat}; runs {runs})", noop)
        weights = [p for p in noop["opened"] if p.endswith((".safetensors", ".gguf", ".bin"))]
        print(f"  files opened under model/workspace/destination: {len(noop['opened'])}, of them weights: {len(weights)}")
        for path in weights:
            print(f"    {path}")
        print(f"  bytes read by the process (libraries included): {noop['rchar'] / 1e6:.1f} MB; the model's weights: {size / 1e6:.1f} MB")
        profiled = publish(sys.executable, checkpoint, root, watched, importtime=True)
        print("\n## no-op re-publish: slowest top-level imports (-X importtime, cumulative)")
        for name, seconds in slowest_imports(profiled["stderr"]):
            print(f"  {seconds:7.3f} s  {name}")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
