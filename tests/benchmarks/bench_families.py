"""Benchmark: the family matrix of issue 24 (a script, not a test).

Run:  .venv/bin/python tests/benchmarks/bench_families.py [--work DIR] [--keep] [--only NAME,NAME] [--reuse]
(in shards on a busy machine: several `--work DIR --keep --only ...` at once, then `--work DIR --reuse` prints the
whole matrix from what they measured)

For each of the M families issue 24 lists (Dense: Llama 3.x, Qwen2.5, Qwen3, Qwen3.5, Gemma 2, Gemma 3 text, Gemma 4,
Mistral, Phi-3, SmolLM3, Granite, OLMo 2; MoE: Qwen3-MoE, Mixtral, gpt-oss, DeepSeek-V3; VLM: Qwen2.5-VL, Gemma 3)
it builds the tiny model the tests build (tests/support/families.py, tests/support/moe_vlm.py: the family's real
config shape, its real tokenizer and chat template where llama.cpp ships them, a named stand-in otherwise, and a
LoRA on the usual targets), then publishes it at the defaults as a user would, in a fresh process:

    hubship publish CKPT -f lora,merged-16bit,merged-4bit,gguf-q8_0,gguf-q4_k_m,gguf-lora --to dir:... --to ollama:NAME

with OLLAMA_HOST pointing at the suite's Ollama stand-in (tests/support/ollama_server). When that fails, each
format is published alone (the workspace keeps what was built) so each format gets its own outcome. Beside it
runs the hand chain (hand_chain.py: peft merge_and_unload + save, bitsandbytes nf4, llama.cpp's converter,
llama_model_quantize), with whether its GGUF feeds the ids training saw.

Per family and format it prints: built (exit code, or the refusal line), the verified figure (mean KL against
base + adapter as peft runs it unmerged; top-1 agreement for GGUF), the chat proof, the hand chain's outcome.
A family counts when every format passed and the GGUF chat proof ran (conversations > 0) and the Ollama publish
went through; `REFUSED_BY_FAMILY` lists the formats llama.cpp or transformers cannot build for a family, which
hubship must refuse at plan time (exit 2) and which then do not count against it.
The last line: `families: N/M published and verified at the defaults`.
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
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(Path(__file__).parent)]
FORMATS = ("lora", "merged-16bit", "merged-4bit", "gguf-q8_0", "gguf-q4_k_m", "gguf-lora")
MATRIX = {  # the families of issue 24, in its order: name -> (title, kind)
    "llama3": ("Llama 3.x", "dense"), "qwen25": ("Qwen2.5", "dense"), "qwen3": ("Qwen3", "dense"),
    "qwen35": ("Qwen3.5", "dense"), "gemma2": ("Gemma 2", "dense"), "gemma3": ("Gemma 3 (text)", "dense"),
    "gemma4": ("Gemma 4", "dense"), "mistral": ("Mistral v0.2", "dense"), "phi3": ("Phi-3", "dense"),
    "smollm3": ("SmolLM3", "dense"), "granite": ("Granite 3", "dense"), "olmo2": ("OLMo 2", "dense"),
    "qwen3_moe": ("Qwen3-MoE", "moe"), "mixtral": ("Mixtral", "moe"), "gpt_oss": ("gpt-oss", "moe"),
    "deepseek_v3": ("DeepSeek-V3", "moe"), "qwen2_5_vl": ("Qwen2.5-VL", "vlm"), "gemma3_vl": ("Gemma 3 VLM", "vlm"),
}  # fmt: skip
_FUSED = "llama.cpp's LoRA converter maps LoRA on modules, not peft's target_parameters on fused experts"
REFUSED_BY_FAMILY: dict[str, dict[str, str]] = {  # family -> {format: why llama.cpp/transformers cannot build it}
    moe: {"gguf-lora": _FUSED} for moe in ("qwen3_moe", "mixtral", "gpt_oss", "deepseek_v3")
}


def build(name: str, root: Path) -> tuple[Path, Path, str]:
    """(base, checkpoint, what its tokenizer and template are) of family `name`, built by the tests' builders."""
    from tests.support import family_retokenized
    from tests.support.families import FAMILIES, build

    if name in FAMILIES:
        family = FAMILIES[name]
        base, checkpoint = build(family, root)
        tokenizer = family.tokenizer_note or (
            f"mistral-common's {family.mistral_common}" if family.mistral_common else f"ggml-vocab-{family.vocab}"
        )
        return base, checkpoint, f"tokenizer: {tokenizer}; template: {family.template}"
    if name in family_retokenized.TOKENIZERS:
        base, checkpoint, spec = family_retokenized.build(name, root)
        return base, checkpoint, f"tokenizer: {spec.tokenizer_note or f'ggml-vocab-{spec.vocab}'}; template: {spec.template}"
    if name == "gemma3_vl":
        base, checkpoint, spec = family_retokenized.build_gemma3_vlm(root)
        return base, checkpoint, f"tokenizer: {spec.tokenizer_note}; template: {spec.template}"
    raise LookupError("no builder in tests/support for this family")


def shift(base: Path, checkpoint: Path) -> str:
    """How far the LoRA moves the logits (mean KL of base + adapter, unmerged, from the base)."""
    from tests.support.families import adapter_shift

    try:
        return f"LoRA shift {adapter_shift(base, checkpoint):.2g} nats/token"
    except Exception as error:  # a vision-language model loads by another class; its own tests measure it
        return f"LoRA shift not measured ({type(error).__name__})"


def publish(checkpoint: Path, formats: tuple[str, ...], root: Path, name: str, *, ollama: bool, dest: str = "published") -> Any:
    """`hubship publish` in a fresh process, into `root/dest` (and Ollama), with the family's one workspace."""
    to = ["--to", f"dir:{root / dest}", *(["--to", f"ollama:{name}"] if ollama else [])]
    argv = [sys.executable, "-m", "hubship", "publish", str(checkpoint), "-f", ",".join(formats), "-n", name]
    return subprocess.run([*argv, "-w", str(root / "ws"), *to, "--quiet"], cwd=REPO, capture_output=True, text=True)


def chat_proved(fmt: str) -> bool:
    """A GGUF model carries the tokenizer and chat format its runtime uses, and gets the token-level chat proof; a GGUF
    LoRA carries neither (the base's GGUF does)."""
    return fmt.startswith("gguf-") and fmt != "gguf-lora"


def figure(root: Path, name: str, fmt: str) -> tuple[bool, str, str]:
    """(passed, the verified figure, the chat proof) from the published manifest of `fmt`."""
    found = list((root / "published" / name / fmt).glob("manifest.json"))
    if not found:
        return False, "not published", "-"
    verification = json.loads(found[0].read_text()).get("verification") or {}
    if fmt == "lora":  # the adapter as trained: nothing merged or converted to check, its files are hashed
        return True, "the adapter as trained (hashed, nothing to verify)", "-"
    metrics = verification.get("metrics", {})
    parts = [f"{key} {metrics[key]:.2g}" for key in ("mean_kl", "max_abs_diff", "top1_agreement") if isinstance(metrics.get(key), float)]
    proof = "-"
    if chat_proved(fmt):
        check, runs = metrics.get("chat_token_check", "not run"), metrics.get("chat_token_conversations", 0)
        proof = f"{check} ({runs} conversations, {metrics.get('chat_token_mismatches', '?')} mismatches)"
    return bool(verification.get("passed")), ", ".join(parts) or "no figure", proof


def last_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1][:220] if lines else ""


def family_row(name: str, root: Path) -> tuple[list[str], bool]:
    """Build, publish and hand-chain family `name`: its rows (printed as they come) and whether it counts."""
    import hand_chain

    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    title, kind = MATRIX[name]
    start = time.perf_counter()
    try:
        base, checkpoint, about = build(name, root)
    except Exception as error:
        say(f"\n## {title} ({kind}): not built: {type(error).__name__}: {error}")
        return lines, False
    say(f"\n## {title} ({kind}); {about}; {shift(base, checkpoint)}")
    refused = REFUSED_BY_FAMILY.get(name, {})
    wanted = tuple(f for f in FORMATS if f not in refused)
    whole = publish(checkpoint, wanted, root, name, ollama=True)
    outcome = {fmt: (whole.returncode, "") for fmt in wanted}
    ollama = (whole.returncode, last_line(whole.stderr))
    if whole.returncode != 0:
        say(f"  all formats at once: exit {whole.returncode}: {last_line(whole.stderr)}")
        for fmt in wanted:
            alone = publish(checkpoint, (fmt,), root, name, ollama=False)
            outcome[fmt] = (alone.returncode, last_line(alone.stderr))
        only = publish(checkpoint, ("gguf-q4_k_m",), root, name, ollama=True, dest="ollama-only")
        ollama = (only.returncode, last_line(only.stderr))
    hand = hand_chain.chain(base, checkpoint, root / "by-hand")
    counts = True
    say(f"  {'format':13s} {'hubship':58s} {'chat proof':40s} hand chain")
    for fmt in FORMATS:
        if fmt in refused:
            probe = publish(checkpoint, (fmt,), root, name, ollama=False, dest="refusal")
            counts &= probe.returncode == 2 and fmt in probe.stderr
            say(f"  {fmt:13s} {f'refused (exit {probe.returncode}), ' + refused[fmt]:58s} {'-':40s} {hand[fmt]}")
            continue
        code, why = outcome[fmt]
        passed, metric, proof = figure(root, name, fmt)
        ran = not chat_proved(fmt) or (proof.startswith("passed (") and not proof.startswith("passed (0"))
        counts &= code == 0 and passed and ran
        built = f"ok, {metric}" if code == 0 and passed else f"exit {code}: {why or metric}"
        say(f"  {fmt:13s} {built:58s} {proof:40s} {hand[fmt]}")
    counts &= ollama[0] == 0
    say(f"  {'ollama:':13s} {'ok' if ollama[0] == 0 else f'exit {ollama[0]}: {ollama[1]}'}")
    say(f"  => {'counts' if counts else 'does not count'} ({time.perf_counter() - start:.0f} s)")
    return lines, counts


def result(name: str, root: Path, reuse: bool, report: bool = False) -> bool:
    """Family `name`'s rows and whether it counts: measured now and saved in `root/name/result.json`, or with
    --reuse reprinted from there (shards of the matrix run as separate processes, then one prints it whole)."""
    saved = root / name / "result.json"
    if (reuse or report) and saved.is_file():
        done = json.loads(saved.read_text())
        print("\n".join(done["lines"]), flush=True)
        return bool(done["counts"])
    if report:
        print(f"\n## {MATRIX[name][0]} ({MATRIX[name][1]}): not measured (no result in the work folder yet)", flush=True)
        return False
    lines, counts = family_row(name, root / name)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"lines": lines, "counts": counts}, indent=1))
    return counts


def main() -> None:
    from tests.support.ollama_server import StandInServer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="folder for the models and outputs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--only", default="", help="comma-separated family names (default: all); N/M still counts all M")
    parser.add_argument("--reuse", action="store_true", help="reprint the families already measured in --work (shards)")
    parser.add_argument("--report", action="store_true", help="only reprint what --work holds; measure nothing")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="hubship-bench-families-"))
    root.mkdir(parents=True, exist_ok=True)
    server = StandInServer(root / "ollama")
    os.environ["OLLAMA_HOST"] = server.url
    try:
        names = [n for n in args.only.split(",") if n] or list(MATRIX)
        print(f"formats: {','.join(FORMATS)} --to dir: --to ollama: (stand-in at {server.url}); {os.cpu_count()} cores")
        counted = sum(result(name, root, args.reuse, args.report) for name in names)
        print(f"\nfamilies: {counted}/{len(MATRIX)} published and verified at the defaults")
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
