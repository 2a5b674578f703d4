"""Benchmark: the compressed-tensors formats (fp8-dynamic, w4a16) against llm-compressor's example script run by hand
(a script, not a test; issue 27's compressed-tensors rows).

Run:  .venv/bin/python tests/benchmarks/bench_serving_ct.py [--work DIR] [--hidden 512] [--layers 4] [--vocab 8000]

Builds a Llama in bf16 (by default hidden 512, 4 layers, an 8,000-token SentencePiece vocabulary trained on the
running Python's standard library sources) with a LoRA checkpoint, all locally, and publishes its merged-16bit
once (that builds the merged model and the reference logits into a workspace). Then, for each format, both timed
as fresh processes that load the model and run the probe:
  (a) by hand: llm-compressor's example script (its FP8_DYNAMIC / W4A16 recipe, lm_head ignored) in llm-compressor's
      environment on the merged folder, then a probe in hubship's environment (transformers + compressed-tensors
      loads the folder and runs the reference's probe tokens; it prints the KL it finds);
  (b) `hubship publish CKPT -f FORMAT` with the workspace of the first publish (plan, preflight, the same
      llm-compressor run, its schema check, the verification, hashing and publishing).
The calibration of w4a16 is hubship's default plain text (`calibration/default.txt`), given to both as a file.
Prints, per format: size (and x of merged-16bit), mean KL and top-1 agreement against the reference (hubship's
manifest, and the by-hand probe's KL), the two times and b/a (target <= 1.3).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))

from bench_gguf import corpus, hubship  # noqa: E402

from hubship.adapters.llm_compressor.environment import env_home, env_python  # noqa: E402
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory  # noqa: E402

SCHEMES = {"fp8-dynamic": "FP8_DYNAMIC", "w4a16": "W4A16"}
# llm-compressor's examples (examples/quantization_w8a8_fp8, examples/quantization_w4a16), a local folder and a local
# calibration file in place of the Hub's model and dataset
BY_HAND = """
import sys
from transformers import AutoModelForCausalLM, AutoTokenizer
from llmcompressor import oneshot
from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier
model_id, save_dir, scheme, calibration = sys.argv[1:5]
model = AutoModelForCausalLM.from_pretrained(model_id, dtype="auto")
tokenizer = AutoTokenizer.from_pretrained(model_id)
if scheme == "FP8_DYNAMIC":
    oneshot(model=model, recipe=QuantizationModifier(targets="Linear", scheme="FP8_DYNAMIC", ignore=["lm_head"]))
else:
    from datasets import Dataset
    ids = tokenizer(open(calibration).read(), add_special_tokens=False)["input_ids"]
    windows = [ids[i : i + 512] for i in range(0, len(ids), 512)]
    ds = Dataset.from_dict({"input_ids": windows, "attention_mask": [[1] * len(w) for w in windows]})
    recipe = GPTQModifier(targets="Linear", scheme="W4A16", ignore=["lm_head"])
    oneshot(model=model, dataset=ds, recipe=recipe, max_seq_length=512, num_calibration_samples=len(windows))
model.save_pretrained(save_dir, save_compressed=True)
tokenizer.save_pretrained(save_dir)
"""
PROBE = """
import sys, torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
reference = load_file(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
with torch.inference_mode():
    logits = model(input_ids=reference["input_ids"][None]).logits[0].float()
p = torch.log_softmax(reference["logits"], -1)
kl = (p.exp() * (p - torch.log_softmax(logits, -1))).sum(-1).mean()
print(float(kl))
"""


def timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"{args[:3]} failed: {done.stderr.strip()[-2000:]}")
    return time.perf_counter() - start, done.stdout.strip()


def weights_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=8000)
    args = parser.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="bench-ct-"))
    model = root / "model"
    if not (model / "checkpoint").is_dir():
        HfDemoCheckpointFactory().create(
            model, dtype="bfloat16", hidden_size=args.hidden, layers=args.layers, corpus=corpus(), vocab_size=args.vocab
        )
    ckpt, ws = model / "checkpoint", root / "ws"
    calibration = REPO / "application" / "formats" / "calibration" / "default.txt"
    hubship("publish", str(ckpt), "-f", "merged-16bit", "-w", str(ws), "-n", "m", "--to", f"dir:{root / 'pub-merged'}")
    merged = root / "pub-merged" / "m" / "merged-16bit"
    reference = next(ws.rglob("reference.safetensors"))
    print(f"model: hidden {args.hidden}, {args.layers} layers, merged-16bit {weights_bytes(merged) / 1e6:.1f} MB; env {env_home()}")
    print("| format | size MB | x 16-bit | mean KL | top-1 | by-hand KL | by hand (s) | hubship (s) | b/a |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for fmt, scheme in SCHEMES.items():
        out = root / f"by-hand-{fmt}"
        script, _ = timed([str(env_python(env_home())), "-c", BY_HAND, str(merged), str(out), scheme, str(calibration)])
        probe, kl_by_hand = timed([sys.executable, "-c", PROBE, str(out), str(reference)])
        dest = root / f"pub-{fmt}"
        b = hubship("publish", str(ckpt), "-f", fmt, "-w", str(ws), "-n", "m", "--calibration", str(calibration), "--to", f"dir:{dest}")
        folder = dest / "m" / fmt
        metrics = json.loads((folder / "manifest.json").read_text())["verification"]["metrics"]
        a = script + probe
        size = weights_bytes(folder)
        print(
            f"| {fmt} | {size / 1e6:.2f} | {size / weights_bytes(merged):.2f} | {metrics['mean_kl']:.4g} | {metrics['top1_agreement']:.3f}"
            f" | {float(kl_by_hand):.4g} | {a:.1f} ({script:.1f} + {probe:.1f}) | {b:.1f} | {b / a:.2f} |"
        )


if __name__ == "__main__":
    main()
