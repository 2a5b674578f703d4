"""The chain a user runs by hand, for bench_families.py: peft's `merge_and_unload` and `save_pretrained` (and the
tokenizer re-saved beside it), bitsandbytes' nf4 for the 4-bit model, llama.cpp's converter
(`convert_hf_to_gguf.py`, as shipped beside hubship's install), its LoRA converter (`convert_lora_to_gguf.py`,
for gguf-lora) and `llama_model_quantize`. Each step runs in a
fresh process and its outcome is one line: `ok` or the step's last error line. What the hand chain cannot see is
said too: whether its GGUF feeds the ids the checkpoint's tokenizer gives for the same chat render (`tokens`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MERGE = """
import sys, torch, transformers
from peft import PeftModel
from transformers import AutoConfig, AutoTokenizer
base, adapter, out = sys.argv[1:4]
config = AutoConfig.from_pretrained(base)
auto = transformers.AutoModelForImageTextToText if hasattr(config, "vision_config") else transformers.AutoModelForCausalLM
model = auto.from_pretrained(base, dtype=torch.float32)
PeftModel.from_pretrained(model, adapter).merge_and_unload().save_pretrained(out)
AutoTokenizer.from_pretrained(adapter).save_pretrained(out)
"""
NF4 = """
import sys, torch, transformers
from transformers import AutoConfig, BitsAndBytesConfig
merged, out = sys.argv[1:3]
vlm = hasattr(AutoConfig.from_pretrained(merged), "vision_config")
auto = transformers.AutoModelForImageTextToText if vlm else transformers.AutoModelForCausalLM
quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
auto.from_pretrained(merged, quantization_config=quant).save_pretrained(out)
"""
TOKENS = """
import json, sys
import llama_cpp
from transformers import AutoTokenizer
gguf, tokenizer_dir, conversations = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
tok = AutoTokenizer.from_pretrained(tokenizer_dir)
vocab = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
checked, differ, first = 0, 0, ""
for messages in conversations:
    try:
        text = tok.apply_chat_template(messages, tokenize=False)
    except Exception:
        continue  # the template refuses this conversation (a system turn, say)
    checked += 1
    want = tok(text)["input_ids"]  # training's ids: `tokenizer(text)` of the render
    got = vocab.tokenize(text.encode(), add_bos=True, special=True)  # llama.cpp's defaults from the GGUF
    if want != got:
        differ += 1
        at = next((i for i, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        first = first or f"at token {at}: transformers {want[at:at + 2]}, llama.cpp {got[at:at + 2]}"
print(f"ids match on {checked} conversations" if not differ else f"ships other ids on {differ}/{checked} conversations ({first})")
"""
QUANTIZE = """
import ctypes, os, sys
import llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype, params.nthread = getattr(llama_cpp, sys.argv[3]), os.cpu_count() or 0
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params)))
"""
CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris, of course."}],
    [
        {"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "Name a prime number above 10."},
        {"role": "assistant", "content": "11 is one."},
    ],
]


def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    """Run `argv`; "ok", or its last error line."""
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=1800)
    if done.returncode == 0:
        return "ok"
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line] or lines or [f"exit {done.returncode}"]
    return f"failed: {errors[-1][:160]}"


def merge(base: Path, checkpoint: Path, out: Path) -> str:
    return _run([sys.executable, "-c", MERGE, str(base), str(checkpoint), str(out)])


def nf4(merged: Path, out: Path) -> str:
    return _run([sys.executable, "-c", NF4, str(merged), str(out)])


def _converter(script: str, *args: str) -> str:
    """One of llama.cpp's converter scripts, as shipped beside hubship's install, with its gguf-py."""
    from hubship.adapters.llama_cpp.install import converter_home

    home = converter_home()
    return _run([sys.executable, str(home / script), *args], env={"PYTHONPATH": str(home / "gguf-py")})


def convert(merged: Path, outfile: Path) -> str:
    return _converter("convert_hf_to_gguf.py", str(merged), "--outtype", "f16", "--outfile", str(outfile))


def convert_lora(base: Path, checkpoint: Path, outfile: Path) -> str:
    """llama.cpp's LoRA converter, as its README runs it: the adapter folder, `--base` the base's folder."""
    return _converter("convert_lora_to_gguf.py", str(checkpoint), "--base", str(base), "--outtype", "f16", "--outfile", str(outfile))


def quantize(source: Path, out: Path, quant: str) -> str:
    """llama_model_quantize in a fresh process (its per-tensor log stays out of the matrix)."""
    return _run([sys.executable, "-c", QUANTIZE, str(source), str(out), f"LLAMA_FTYPE_MOSTLY_{quant.upper()}"])


def tokens(gguf: Path, checkpoint: Path) -> str:
    import json

    done = subprocess.run(
        [sys.executable, "-c", TOKENS, str(gguf), str(checkpoint), json.dumps(CONVERSATIONS)], capture_output=True, text=True
    )
    return done.stdout.strip() if done.returncode == 0 else f"not checked: {(done.stderr.strip().splitlines() or ['?'])[-1][:120]}"


def chain(base: Path, checkpoint: Path, root: Path) -> dict[str, str]:
    """Every step of the hand chain on (base, checkpoint) under `root`: format -> outcome."""
    merged, source = root / "merged", root / "model.F16.gguf"
    outcome = {"lora": "the adapter as the trainer saved it", "merged-16bit": merge(base, checkpoint, merged)}
    outcome["gguf-lora"] = convert_lora(base, checkpoint, root / "adapter.LoRA-F16.gguf")
    if outcome["merged-16bit"] != "ok":
        return {**outcome, **dict.fromkeys(("merged-4bit", "gguf-q8_0", "gguf-q4_k_m"), "no merged model")}
    outcome["merged-4bit"] = nf4(merged, root / "merged-4bit")
    converted = convert(merged, source)
    fed = tokens(source, checkpoint) if converted == "ok" else ""  # the tokenizer is the converter's, in every quant
    for quant in ("q8_0", "q4_k_m"):
        if converted != "ok":
            outcome[f"gguf-{quant}"] = f"convert {converted}"
            continue
        made = quantize(source, root / f"model.{quant}.gguf", quant)
        outcome[f"gguf-{quant}"] = made if made != "ok" else f"ok; {fed}"
    return outcome
