"""llm-compressor's `oneshot` with its documented recipes, run inside llm-compressor's own environment.

This file is run as a script (`python oneshot_worker.py SPEC.json`) by the llm-compressor environment's
interpreter; it imports nothing of hubship (hubship is not installed there), only llm-compressor and what
llm-compressor pins (transformers, compressed-tensors, torch). The recipes are the ones llm-compressor's own
examples use: FP8_DYNAMIC with `QuantizationModifier` (data-free), W4A16 with `GPTQModifier` on calibration text.
`ignore` keeps lm_head (and a vision-language model's vision tower) in 16-bit. The folder is saved compressed
(`save_compressed=True`), the tokenizer is hubship's business.

SPEC: {"model": DIR, "out": DIR, "scheme": "FP8_DYNAMIC"|"W4A16", "ignore": [...],
       "calibration": FILE|null, "max_seq_length": N, "num_samples": N}
"""

from __future__ import annotations

import json
import sys

FAILED = "hubship-worker-failed: "  # the line hubship reads the failure from (the rest of stderr is llm-compressor's log)


def _model(path: str):  # type: ignore[no-untyped-def]
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    config = AutoConfig.from_pretrained(path)
    auto = AutoModelForCausalLM if type(config) in AutoModelForCausalLM._model_mapping else AutoModelForImageTextToText
    return auto.from_pretrained(path, dtype="auto")


def _dataset(path: str, spec: dict, model_dir: str):  # type: ignore[no-untyped-def]
    """The calibration text cut into `num_samples` windows of `max_seq_length` tokens (the whole text, evenly)."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.get("tokenizer") or model_dir)
    with open(path, encoding="utf-8") as f:
        ids = tokenizer(f.read(), add_special_tokens=False)["input_ids"]
    size = int(spec["max_seq_length"])
    windows = [ids[i : i + size] for i in range(0, len(ids), size) if len(ids[i : i + size]) >= 8]
    windows = windows[: int(spec["num_samples"])]
    if not windows:
        raise ValueError("the calibration text is too short to calibrate W4A16 (fewer than 8 tokens); pass a longer --calibration")
    return Dataset.from_dict({"input_ids": windows, "attention_mask": [[1] * len(w) for w in windows]})


def main(spec_file: str) -> None:
    with open(spec_file, encoding="utf-8") as f:
        spec = json.load(f)
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import GPTQModifier, QuantizationModifier

    model = _model(spec["model"])
    if spec["scheme"] == "FP8_DYNAMIC":
        recipe = QuantizationModifier(targets="Linear", scheme="FP8_DYNAMIC", ignore=spec["ignore"])
        oneshot(model=model, recipe=recipe)
    else:
        recipe = GPTQModifier(targets="Linear", scheme=spec["scheme"], ignore=spec["ignore"])
        dataset = _dataset(spec["calibration"], spec, spec["model"])
        oneshot(
            model=model,
            dataset=dataset,
            recipe=recipe,
            max_seq_length=int(spec["max_seq_length"]),
            num_calibration_samples=len(dataset),
        )
    model.save_pretrained(spec["out"], save_compressed=True)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as exc:
        print(FAILED + (f"{type(exc).__name__}: {exc}".splitlines() or [""])[0], file=sys.stderr)
        raise
