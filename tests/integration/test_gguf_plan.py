"""GGUF at plan time on the tiny Llama: the DAG converts once, and what cannot work is one line before any build."""

from __future__ import annotations

import json

import pytest

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import UserInputError


def _plan(container, checkpoint, formats: str, **options):
    return container.plan_publish().execute(PublishRequest(checkpoint=str(checkpoint), formats=(formats,), options=options))


def test_every_quantization_builds_from_one_intermediate_of_the_merged_dtype(container, tiny_model):
    plan = _plan(container, tiny_model[1], "gguf-f16,gguf-q8_0,gguf-q4_k_m").plan
    formats = [n.format for n in plan.nodes]
    assert formats.count("gguf-intermediate") == 1 and formats.count("merged-16bit") == 1
    for fmt in ("gguf-f16", "gguf-q8_0", "gguf-q4_k_m"):
        assert "gguf-intermediate" in plan.node(fmt).builds_from and plan.node(fmt).requested
    intermediate = plan.node("gguf-intermediate")
    assert not intermediate.requested and intermediate.spec.params["outtype"] == "f32"  # the tiny base is fp32: lossless
    bf16 = _plan(container, tiny_model[1], "gguf-q8_0", dtype="bf16").plan.node("gguf-intermediate")
    assert bf16.spec.params["outtype"] == "bf16" and bf16.spec.key != intermediate.spec.key


def test_the_intermediate_cannot_be_requested(container, tiny_model):
    with pytest.raises(UserInputError, match="unknown format 'gguf-intermediate'"):
        _plan(container, tiny_model[1], "gguf-intermediate")


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"use_dora": True}, "DoRA"),
        ({"use_rslora": True}, "rsLoRA"),
        ({"target_parameters": ["mlp.experts.gate_up_proj"]}, r"LoRA on parameters \(target_parameters: mlp.experts.gate_up_proj\)"),
    ],
)
def test_gguf_lora_refuses_adapters_llama_cpp_cannot_apply(container, checkpoint_copy, setting, named):
    config = json.loads((checkpoint_copy / "adapter_config.json").read_text())
    (checkpoint_copy / "adapter_config.json").write_text(json.dumps({**config, **setting}))
    with pytest.raises(UserInputError, match=f"gguf-lora cannot express {named}") as refused:
        _plan(container, checkpoint_copy, "gguf-lora")
    assert "drop gguf-lora (the other formats publish without it)" in refused.value.message


def test_a_missing_or_stale_converter_is_one_line_naming_make_setup(container, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setenv("HUBSHIP_GGUF_CONVERTER", str(tmp_path / "nowhere"))
    with pytest.raises(UserInputError, match=r"converter is not installed .*; run `make setup`"):
        _plan(container, tiny_model[1], "gguf-q8_0")
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "convert_hf_to_gguf.py").write_text("")
    (stale / "LLAMA_CPP_PYTHON_VERSION").write_text("0.0.1\n")
    monkeypatch.setenv("HUBSHIP_GGUF_CONVERTER", str(stale))
    with pytest.raises(UserInputError, match=r"comes from llama-cpp-python 0\.0\.1 but .* is installed; run `make setup`"):
        _plan(container, tiny_model[1], "gguf-q8_0")
