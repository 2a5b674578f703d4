"""QLoRA adapters, trained for real on bitsandbytes bases (nf4, nf4 with double quant, int8, nf4 with modules left
unquantized; tests/support/checkpoints.py), published as users publish them:

- `lora` publishes, its adapter_config.json and card naming hub ids (the upstream model the 4-bit base's README names);
- the reference is what was trained: it equals bitsandbytes' own forward of base + adapter;
- `merged-16bit` in fp32 is within 1e-4 max abs of that reference (merged onto the base as bitsandbytes
  dequantizes it), and `--merge-onto` the original 16-bit weights is measured and reported beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from hubship.application.publish_request import PublishRequest
from hubship.entrypoints.container import create_container
from tests.support.bnb_forward import assert_matches_bnb_forward
from tests.support.checkpoints import UPSTREAM

pytestmark = pytest.mark.slow
VARIANTS = ("nf4", "nf4-dq", "int8", "nf4-skip")


@pytest.fixture(scope="module")
def publish(real_checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):
    """publish(variant, formats, **options) -> (the published folder, the workspace folder of reference-logits)."""
    root = tmp_path_factory.mktemp("qlora")
    container = create_container({"workspace": root / "ws", "quiet": True})

    def run(variant: str, formats: str, name: str | None = None, **options: Any) -> tuple[Path, Path]:
        name = name or variant
        request = PublishRequest(
            checkpoint=str(real_checkpoints[f"qlora-{variant}"]),
            formats=(formats,),
            destinations=(f"dir:{root / 'out'}",),
            name=name,
            options=options,
        )
        result = container.execute_plan().execute(request)
        reference = next(a.path for a in result.artifacts if a.format == "reference-logits")
        return root / "out" / name, Path(reference)

    return run


def forward(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids[None]).logits[0].float()


def mean_kl(reference: torch.Tensor, logits: torch.Tensor) -> float:
    p, q = torch.log_softmax(reference.double(), -1), torch.log_softmax(logits.double(), -1)
    return float((p.exp() * (p - q)).sum(-1).mean())


@pytest.mark.parametrize("variant", VARIANTS)
def test_lora_and_merged_16bit_of_a_qlora_adapter(variant, publish, real_checkpoints):
    out, reference_dir = publish(variant, "lora,merged-16bit", dtype="fp32")
    reference = load_file(str(reference_dir / "reference.safetensors"))
    ids = reference["input_ids"]

    # the reference is what was trained: bitsandbytes' own forward of the quantized base + the adapter
    base = AutoModelForCausalLM.from_pretrained(real_checkpoints[f"base-{variant}"], device_map="cpu", dtype=torch.float32)
    trained = forward(PeftModel.from_pretrained(base, out / "lora").eval(), ids)
    if variant == "int8":  # bitsandbytes' int8 forward also rounds the activations to int8: close, not equal
        assert mean_kl(reference["logits"], trained) < 1e-3
    else:  # 4-bit with fp32 compute: the same dequantized weights, the same matmuls (bf16 ones on AVX512-BF16 CPUs)
        assert_matches_bnb_forward(trained, reference["logits"])

    manifest = json.loads((out / "merged-16bit" / "manifest.json").read_text())
    assert manifest["verification"]["passed"] and manifest["verification"]["metrics"]["max_abs_diff"] <= 1e-4
    assert manifest["verification"]["metrics"]["merge_error"] <= 64, "every tensor against peft's merge of the dequantized layer"
    merged = AutoModelForCausalLM.from_pretrained(out / "merged-16bit", dtype=torch.float32).eval()
    assert (forward(merged, ids) - reference["logits"]).abs().max() <= 1e-4
    assert "quantization_config" not in json.loads((out / "merged-16bit" / "config.json").read_text())

    adapter_config = json.loads((out / "lora" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == UPSTREAM  # the 4-bit base is a local folder: its README names the upstream
    card = (out / "lora" / "README.md").read_text()
    assert f"base_model: {UPSTREAM}" in card and "base_model_relation: adapter" in card
    assert "- trained on: a local copy of the base, quantized with bitsandbytes" in card
    assert str(real_checkpoints[f"base-{variant}"]) not in card + json.dumps(adapter_config)


def test_both_merges_of_a_qlora_adapter_are_measured_side_by_side(publish, tiny_model):
    onto_dequantized, _ = publish("nf4", "merged-16bit", name="dequantized", dtype="fp32")
    onto_original, _ = publish("nf4", "merged-16bit", name="original", dtype="fp32", merge_onto=str(tiny_model[0]))
    figures = {}
    for label, out in (("onto the dequantized nf4 base", onto_dequantized), ("onto the original 16-bit base", onto_original)):
        figures[label] = json.loads((out / "merged-16bit" / "manifest.json").read_text())["verification"]["metrics"]
    print("\nmerged-16bit of a 4-step QLoRA (nf4) against base + adapter as trained:")
    for label, metrics in figures.items():
        print(f"  {label:32s} max_abs_diff {metrics['max_abs_diff']:.3g}  mean_kl {metrics['mean_kl']:.3g}")
    dequantized, original = figures.values()
    assert dequantized["max_abs_diff"] <= 1e-4 and original["max_abs_diff"] > 100 * dequantized["max_abs_diff"]
    assert original["mean_kl"] > dequantized["mean_kl"] and {"top1_agreement", "top1_near"} <= set(original)
    card = (onto_original / "merged-16bit" / "README.md").read_text()
    assert "- merged onto: base (--merge-onto), not the weights the adapter was trained on" in card
    assert "## Notes" in card and "| `mean_kl` |" in card
    manifest = json.loads((onto_original / "merged-16bit" / "manifest.json").read_text())
    assert manifest["params"]["merge_onto"]["name"] == "base" and manifest["inputs"]["merge_onto"]["files"]["model.safetensors"]
    assert str(tiny_model[0]) not in json.dumps(manifest)
