"""Format `merged-4bit`: bitsandbytes 4-bit weights built from the plan's merged-16bit artifact, loadable by
transformers on CPU, with its KL and top-1 agreement against the reference in the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hubship.adapters.torch.bnb_quantizer import BnbQuantizer
from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.streaming_merger import StreamingMerger
from hubship.domain.checkpoint import BaseRef
from tests.fakes.progress import FakeProgress


def _quantized_linears(model: torch.nn.Module) -> int:
    return sum(type(m).__name__ == "Linear4bit" for m in model.modules())


@pytest.mark.slow
def test_publish_merged_4bit(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    _, ckpt = tiny_model
    dest = tmp_path / "published"
    result = cli("publish", str(ckpt), "--format", "merged-4bit", "--workspace", str(tmp_path / "ws"), "--to", f"dir:{dest}", "--quiet")
    assert result.returncode == 0, result.stderr
    published = [p.parent.name for p in dest.rglob("manifest.json")]
    assert published == ["merged-4bit"], "merged-16bit is an intermediate here: built, not published"
    folder = next(dest.rglob("merged-4bit"))
    manifest = json.loads((folder / "manifest.json").read_text())
    metrics = manifest["verification"]["metrics"]
    assert set(metrics) >= {"mean_kl", "top1_agreement"} and 0 < metrics["mean_kl"] < 0.1 and manifest["verification"]["passed"]
    assert manifest["params"] == {"quant_type": "nf4", "double_quant": False}
    assert "merged-16bit" in manifest["built_from"]
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization_config"]["bnb_4bit_quant_type"] == "nf4" and config["quantization_config"]["load_in_4bit"]

    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert _quantized_linears(model) == 7 * model.config.num_hidden_layers
    ids = tokenizer("Hello world", return_tensors="pt").input_ids
    generated = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 4
    assert tokenizer.chat_template == (ckpt / "chat_template.jinja").read_text()


def test_fp4_with_double_quant(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    base, ckpt = tiny_model
    merged, quantized = tmp_path / "merged", tmp_path / "fp4"
    merged.mkdir()
    quantized.mkdir()
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    StreamingMerger().merge(checkpoint, info, merged, dtype="bf16", max_shard_bytes=10**9, progress=FakeProgress())
    BnbQuantizer().quantize(merged, quantized, quant_type="fp4", double_quant=True, progress=FakeProgress())
    settings = json.loads((quantized / "config.json").read_text())["quantization_config"]
    assert settings["bnb_4bit_quant_type"] == "fp4" and settings["bnb_4bit_use_double_quant"] is True
    model = AutoModelForCausalLM.from_pretrained(quantized, device_map="cpu")
    assert _quantized_linears(model) > 0
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=torch.tensor([[1, 5, 9]])).logits).all()


def test_bad_quant_type_is_refused_at_plan_time(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    result = cli("plan", str(tiny_model[1]), "-f", "merged-4bit", "--bnb-quant-type", "int3", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2 and "nf4 or fp4" in result.stderr
