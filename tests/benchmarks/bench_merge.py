"""Benchmark: hubship's streaming merge against peft's merge_and_unload and a plain copy (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_merge.py [--work DIR] [--keep] [--four-bit] [--other DIR]

Builds a synthetic Llama of about 0.5B parameters in bf16 (about 1 GB, 3 shards) with an r=16 LoRA
on every linear layer of every decoder layer, then a model twice as deep, and measures, each in a
fresh process:
  baseline  a process that only imports torch, transformers and peft
  peft      load + merge_and_unload + save_pretrained
  hubship   `hubship publish --format merged-16bit` (verification included), and with --verify off; each
            from an empty workspace, and once more with --verify off for the next checkpoint of the same base
            (another adapter) in the workspace the first one left (what it keeps: hashes, the base's facts)
  copy      a plain copy of the base shards (the I/O floor)
Peak RSS is the process's high-water mark (getrusage of the waited-for child); it is reported above
the import baseline, since importing the libraries alone costs hundreds of MB. Each step runs
--repeat times (default 3), interleaved; the fastest wall time counts, as the least disturbed by
other work on the machine.

--four-bit: the 4-bit-base case instead. The same models with every LoRA-targeted weight quantized to
nf4 by bitsandbytes (quantized_base.py), so the adapter is a QLoRA adapter and hubship merges it onto
the base as bitsandbytes dequantizes it, one tensor at a time (peft's merge is not run: it would load
the whole 4-bit model). The figure to watch: peak RSS growth when the model doubles.

--other DIR: a folder whose hubship/ is another tree (e.g. the commit before a change): its `hubship` and
`hubship --verify off` publishes run interleaved with the others, so a before and after see the same load.
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
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HIDDEN, INTERMEDIATE, VOCAB, HEADS, KV_HEADS, LAYERS, RANK = 1024, 4096, 32000, 16, 4, 28, 16
TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Each measurement runs as `python -c MEASURE <command...>`: the wrapper waits for its one child and reports
# the child's wall time and peak RSS (ru_maxrss of RUSAGE_CHILDREN covers exactly that child).
MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
print(json.dumps({"rc": rc, "wall_s": wall, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""
IMPORT_ONLY = "import torch, transformers, peft"
PEFT_MERGE = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM
base, adapter, out = sys.argv[1:4]
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
model.save_pretrained(out, max_shard_size="5GB")
"""


def _shapes(layers: int) -> list[tuple[str, tuple[int, ...]]]:
    head_dim = HIDDEN // HEADS
    per_layer = {
        "self_attn.q_proj.weight": (HIDDEN, HIDDEN),
        "self_attn.k_proj.weight": (KV_HEADS * head_dim, HIDDEN),
        "self_attn.v_proj.weight": (KV_HEADS * head_dim, HIDDEN),
        "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
        "mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN),
        "mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
        "mlp.down_proj.weight": (HIDDEN, INTERMEDIATE),
        "input_layernorm.weight": (HIDDEN,),
        "post_attention_layernorm.weight": (HIDDEN,),
    }
    names = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    names += [(f"model.layers.{i}.{k}", s) for i in range(layers) for k, s in per_layer.items()]
    return [*names, ("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]


def build_model(root: Path, layers: int, tokenizer_from: Path) -> tuple[Path, Path]:
    """A synthetic bf16 Llama in 3 shards plus an r=16 LoRA checkpoint; random tensors written straight to safetensors."""
    import torch
    from safetensors.torch import save_file

    base, ckpt = root / "base", root / "checkpoint"
    base.mkdir(parents=True)
    ckpt.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    shapes = _shapes(layers)
    sizes = [math.prod(shape) for _, shape in shapes]
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[], [], []]
    seen = 0
    for item, count in zip(shapes, sizes, strict=True):  # three shards of about a third of the bytes each
        groups[min(3 * seen // sum(sizes), 2)].append(item)
        seen += count
    weight_map, total = {}, 0
    for number, group in enumerate(groups, 1):
        name = f"model-{number:05d}-of-00003.safetensors"
        tensors = {}
        for key, shape in group:
            value = torch.ones(shape) if len(shape) == 1 else torch.randn(shape, generator=gen) * 0.02
            tensors[key] = value.to(torch.bfloat16)
            weight_map[key] = name
            total += tensors[key].numel() * 2
        save_file(tensors, str(base / name), metadata={"format": "pt"})
        del tensors
    (base / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": layers,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "vocab_size": VOCAB,
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": False,
        "dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    (base / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        if (tokenizer_from / name).is_file():
            shutil.copyfile(tokenizer_from / name, ckpt / name)
            shutil.copyfile(tokenizer_from / name, base / name)
    write_lora(ckpt, base, shapes, gen)
    return base, ckpt


def write_lora(ckpt: Path, base: Path, shapes: list[tuple[str, tuple[int, ...]]], gen: Any) -> None:
    """An r=16 LoRA in bf16 on every TARGETS linear of `shapes` (name, (out, in)), with its adapter_config naming `base`."""
    import torch
    from safetensors.torch import save_file

    adapter = {}
    for key, shape in shapes:
        module = key.removesuffix(".weight")
        if module.rsplit(".", 1)[-1] in TARGETS:
            out_dim, in_dim = shape
            adapter[f"base_model.model.{module}.lora_A.weight"] = (torch.randn((RANK, in_dim), generator=gen) / RANK).to(torch.bfloat16)
            adapter[f"base_model.model.{module}.lora_B.weight"] = (torch.randn((out_dim, RANK), generator=gen) * 0.01).to(torch.bfloat16)
    save_file(adapter, str(ckpt / "adapter_model.safetensors"), metadata={"format": "pt"})
    adapter_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": RANK,
        "lora_alpha": 2 * RANK,
        "target_modules": list(TARGETS),
        "base_model_name_or_path": str(base),
        "lora_dropout": 0.0,
        "bias": "none",
    }
    (ckpt / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))


def _later_checkpoint(ckpt: Path) -> Path:
    """A copy of the checkpoint with other adapter values: the next checkpoint of the same training run."""
    from safetensors.torch import load_file, save_file

    later = ckpt.with_name(ckpt.name + "-later")
    if not later.exists():
        shutil.copytree(ckpt, later)
        tensors = load_file(later / "adapter_model.safetensors")
        save_file({k: v * 1.01 for k, v in tensors.items()}, str(later / "adapter_model.safetensors"), metadata={"format": "pt"})
    return later


def measure(command: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"] != 0:
        raise SystemExit(f"benchmark step failed (exit {result['rc']}): {' '.join(command)}\n{done.stderr[-2000:]}")
    return result


def run_model(
    root: Path, layers: int, tokenizer_from: Path, baseline: float, repeat: int, four_bit: bool = False, other: Path | None = None
) -> dict[str, dict[str, float]]:
    """Each step `repeat` times, interleaved; the fastest wall time (least disturbed by other load) and the
    highest peak RSS count. Every run starts from nothing: a fresh output folder and an empty workspace."""
    started = time.perf_counter()
    base, ckpt = build_model(root / f"model-{layers}", layers, tokenizer_from)
    if four_bit:
        from quantized_base import quantize_base

        quantized = quantize_base(base, root / f"model-{layers}" / "base-nf4", TARGETS)
        shutil.rmtree(base)
        base = quantized
        adapter_config = json.loads((ckpt / "adapter_config.json").read_text())
        (ckpt / "adapter_config.json").write_text(json.dumps({**adapter_config, "base_model_name_or_path": str(base)}))
    size = sum(p.stat().st_size for p in base.glob("*.safetensors"))
    print(f"\n## {layers} layers: {size / 1e9:.2f} GB in 3 shards (built in {time.perf_counter() - started:.0f} s)", flush=True)
    python, scratch = sys.executable, root / "scratch"
    hubship = [python, "-m", "hubship", "publish", str(ckpt), "--format", "merged-16bit", "--quiet"]
    hubship += ["--workspace", str(scratch / "ws"), "--to", f"dir:{scratch / 'published'}"]
    later = _later_checkpoint(ckpt)
    steps = {
        **({} if four_bit else {"peft": [python, "-c", PEFT_MERGE, str(base), str(ckpt), str(scratch / "peft-out")]}),
        "hubship": hubship,
        "hubship --verify off": [*hubship, "--verify", "off"],
        "hubship --verify off, next checkpoint": [*hubship, "--verify", "off"],
        "copy": ["cp", "-r", str(base), str(scratch / "copy")],
    }
    envs = {label: {"HF_HUB_OFFLINE": "1"} for label in steps}
    if other is not None:  # the same publishes by another tree of hubship, interleaved: a before/after on one load
        for label in ("hubship", "hubship --verify off"):
            steps[f"{label} (other tree)"] = steps[label]
            envs[f"{label} (other tree)"] = {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(other)}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in steps}
    for _ in range(repeat):
        for label, command in steps.items():
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            if label.endswith("next checkpoint"):  # the workspace of an earlier checkpoint of the same base, kept
                subprocess.run(command, check=True, capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
                command = [str(later) if part == str(ckpt) else part for part in command]
            runs[label].append(measure(command, envs[label]))
    shutil.rmtree(scratch, ignore_errors=True)
    results = {}
    for label, measured in runs.items():
        walls = sorted(m["wall_s"] for m in measured)
        results[label] = {"wall_s": walls[0], "peak_rss_bytes": max(m["peak_rss_bytes"] for m in measured)}
        above = results[label]["peak_rss_bytes"] - baseline
        print(
            f"{label:37s} {walls[0]:7.1f} s (runs: {', '.join(f'{w:.1f}' for w in walls)})"
            f"   peak RSS {results[label]['peak_rss_bytes'] / 1e9:5.2f} GB ({above / 1e9:5.2f} GB above baseline)",
            flush=True,
        )
    return results


def main() -> None:
    from bytecode import compile_hubship

    compile_hubship()  # measure hubship as installed, with its bytecode
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the synthetic models (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the synthetic models")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step; the fastest counts (default 3)")
    parser.add_argument("--four-bit", action="store_true", help="the 4-bit-base (QLoRA) case instead of the 16-bit one")
    parser.add_argument(
        "--other", type=Path, default=None, help="a folder holding another tree as hubship/ (PYTHONPATH): its publishes run interleaved too"
    )
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

        _, tokenizer_from = HfDemoCheckpointFactory().create(root / "tokenizer", layers=1, hidden_size=64)
        baseline = measure([sys.executable, "-c", IMPORT_ONLY])["peak_rss_bytes"]
        print(f"import baseline (torch, transformers, peft): peak RSS {baseline / 1e9:.2f} GB")
        figures = {n: run_model(root, n, tokenizer_from, baseline, args.repeat, args.four_bit, args.other) for n in (LAYERS, 2 * LAYERS)}
        print("\n## ratios (peak RSS counted above the import baseline)")
        for layers, r in figures.items() if not args.four_bit else ():
            peft_rss = r["peft"]["peak_rss_bytes"] - baseline
            labels = [("hubship", 1.25), ("hubship --verify off", 0.5), ("hubship --verify off, next checkpoint", 0.5)]
            labels += [(f"{label} (other tree)", target) for label, target in labels[:2] if f"{label} (other tree)" in r]
            for label, target in labels:
                rss = (r[label]["peak_rss_bytes"] - baseline) / peft_rss
                wall = r[label]["wall_s"] / r["peft"]["wall_s"]
                print(
                    f"{layers} layers, {label:37s}: wall {wall:.2f} x peft (target <= {target}), RSS {rss:.2f} x peft (target <= 0.2),"
                    f" {r[label]['wall_s'] / r['copy']['wall_s']:.1f} x plain copy" + (" (target <= 4)" if "off" in label else "")
                )
        for label in ("hubship", "hubship --verify off"):
            small, deep = (figures[n][label]["peak_rss_bytes"] - baseline for n in (LAYERS, 2 * LAYERS))
            print(f"2x deeper model, {label}: peak RSS above baseline grows {100 * (deep / small - 1):+.0f}%")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
