"""The foundation's formats on a real tiny Llama: merged logits equal base + adapter, cards carry the facts."""

from __future__ import annotations

import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from hubship.application.publish_request import PublishRequest
from tests.conftest import TINY_BASE_ID

PROMPT = "Hello world, the quick brown fox publishes a tiny model."


def logits(model, tokenizer) -> torch.Tensor:
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        return model(ids).logits[0].float()


@pytest.fixture(scope="module")
def published(tiny_model, tmp_path_factory):
    from hubship.entrypoints.container import create_container

    base, checkpoint = tiny_model
    root = tmp_path_factory.mktemp("publish")
    container = create_container({"workspace": root / "ws", "quiet": True})
    result = container.execute_plan().execute(
        PublishRequest(
            checkpoint=str(checkpoint),
            formats=("lora,merged-16bit",),
            destinations=(f"dir:{root / 'out'}",),
            name="tiny",
            options={"dtype": "fp32"},
        )
    )
    return base, checkpoint, root / "out" / "tiny", result


@pytest.fixture(scope="module")
def reference(tiny_model):
    base, checkpoint = tiny_model
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), checkpoint)
    return logits(model.eval(), tokenizer), tokenizer


def test_merged_model_equals_base_plus_adapter_unmerged(published, reference):
    _, _, out, _ = published
    expected, tokenizer = reference
    merged = AutoModelForCausalLM.from_pretrained(out / "merged-16bit", dtype=torch.float32).eval()
    diff = (logits(merged, tokenizer) - expected).abs().max().item()
    assert diff <= 1e-4, diff
    base_only = AutoModelForCausalLM.from_pretrained(published[0], dtype=torch.float32).eval()
    assert (logits(base_only, tokenizer) - expected).abs().max().item() > 1e-3  # the adapter really changes the model


def test_lora_artifact_loads_with_peft_and_matches(published, reference):
    base, _, out, _ = published
    expected, _ = reference
    tokenizer = AutoTokenizer.from_pretrained(out / "lora")
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), out / "lora").eval()
    assert (logits(model, tokenizer) - expected).abs().max().item() <= 1e-5
    # a hub id (the base's config names it), never a local path
    assert json.loads((out / "lora" / "adapter_config.json").read_text())["base_model_name_or_path"] == TINY_BASE_ID


def test_tokenizer_template_and_generation_config_come_from_the_checkpoint(published):
    _, checkpoint, out, _ = published
    for fmt in ("lora", "merged-16bit"):
        tokenizer = AutoTokenizer.from_pretrained(out / fmt)
        assert tokenizer.chat_template == AutoTokenizer.from_pretrained(checkpoint).chat_template is not None
        gen = json.loads((out / fmt / "generation_config.json").read_text())
        assert gen["temperature"] == 0.7  # the checkpoint's, not the base's


def test_cards_and_manifests(published):
    base, checkpoint, out, _ = published
    card = (out / "merged-16bit" / "README.md").read_text()
    assert "base_model_relation: merge" in card and "license: apache-2.0" in card
    assert "- sft" in card
    for local_path in (str(base), str(checkpoint)):  # local input paths never leak into what is published
        assert local_path not in card
        assert local_path not in (out / "merged-16bit" / "manifest.json").read_text()
    lora_card = (out / "lora" / "README.md").read_text()
    assert "base_model_relation: adapter" in lora_card and "library_name: peft" in lora_card
    manifest = json.loads((out / "merged-16bit" / "manifest.json").read_text())
    assert {"hubship", "torch", "transformers", "peft"} <= set(manifest["tools"])
    assert manifest["params"]["dtype"] == "fp32"
    assert "model.safetensors" in manifest["inputs"]["base"]["files"]
    assert "adapter_model.safetensors" in manifest["inputs"]["checkpoint"]["files"]
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.name for p in (out / "merged-16bit").iterdir()} - {"manifest.json"}
    assert listed == on_disk
