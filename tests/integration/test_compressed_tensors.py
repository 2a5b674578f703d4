"""Formats `fp8-dynamic` and `w4a16` (compressed-tensors, for vLLM) on the tiny model, with llm-compressor really run
in its own environment (`make setup` makes it): each published folder loads with transformers' compressed-tensors integration (the loader
vLLM's format has on CPU), a merge that dropped the adapter fails the default gate, and a missing environment is
refused at plan time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from dependency_injector import providers
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

from hubship.adapters.llm_compressor.compressor import LlmCompressorCompressor
from hubship.adapters.llm_compressor.environment import HOME_ENV
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import PublishError, QualityGateFailed
from tests.fakes.merger import ScaledDeltaMerger
from tests.fakes.progress import FakeProgress
from tests.support.lossy_model import lossy_copy

CALIBRATION = (
    "The quick brown fox jumps over the lazy dog. " * 40 + "A tokenizer splits text into pieces; a model predicts the next.\n" * 20
)


def _dtypes(folder: Path) -> dict[str, torch.dtype]:
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        return {key: f.get_tensor(key).dtype for key in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)


@pytest.mark.slow
def test_publish_fp8_dynamic_and_w4a16_loads_with_transformers(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    _, ckpt = tiny_model
    (tmp_path / "calibration.txt").write_text(CALIBRATION)
    dest = tmp_path / "published"
    result = cli(
        "publish",
        str(ckpt),
        "-f",
        "fp8-dynamic,w4a16",
        "--calibration",
        str(tmp_path / "calibration.txt"),
        "--workspace",
        "ws",  # relative, as a user in their project folder writes it: llm-compressor runs elsewhere
        "--to",
        f"dir:{dest}",
        "--quiet",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.parent.name for p in dest.rglob("manifest.json")) == ["fp8-dynamic", "w4a16"]
    layers = json.loads((ckpt / "adapter_config.json").read_text())
    expected = {
        "fp8-dynamic": ("float-quantized", torch.float8_e4m3fn, "weight"),
        "w4a16": ("pack-quantized", torch.int32, "weight_packed"),
    }
    for name, (fmt, dtype, key) in expected.items():
        folder = next(dest.rglob(name))
        manifest = json.loads((folder / "manifest.json").read_text())
        verification = manifest["verification"]
        assert verification["passed"] and 0 < verification["metrics"]["mean_kl"] < 0.01, verification
        assert "merged-16bit" in manifest["built_from"]
        card = (folder / "README.md").read_text()
        assert "base_model_relation: quantized" in card and f"vllm serve {folder}" in card
        config = json.loads((folder / "config.json").read_text())["quantization_config"]
        assert config["quant_method"] == "compressed-tensors" and config["format"] == fmt and "lm_head" in config["ignore"]
        dtypes = _dtypes(folder)
        projections = [k for k in dtypes if k.endswith(f"q_proj.{key}")]
        assert projections and all(dtypes[k] == dtype for k in projections), "the linear layers are stored quantized"
        assert dtypes["lm_head.weight"] == torch.float32, "lm_head stays unquantized (the tiny model is fp32)"
        assert layers["r"] > 0

        model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu")  # compressed-tensors decompresses
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert model.config.quantization_config is not None
        ids = tokenizer("Hello world", return_tensors="pt").input_ids
        assert model.generate(ids, max_new_tokens=4, do_sample=False).shape[1] == ids.shape[1] + 4
        assert tokenizer.chat_template == (ckpt / "chat_template.jinja").read_text()
    assert "GPTQ calibrated on `calibration.txt`" in next(dest.rglob("w4a16/README.md")).read_text()


@pytest.mark.slow
def test_an_artifact_without_the_adapter_fails_the_default_gate(container, tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    """The merge drops the adapter (its delta x 0): each format then loses what the fine-tune changed, far past what the
    same format loses on the base (the yardstick), so nothing is published. The model is the tiny one with a sharp
    head (tests/support/lossy_model.py), so the fine-tune moves its logits as a real one does."""
    _, finetune = lossy_copy(tiny_model, tmp_path / "lossy", delta=1.0)
    (tmp_path / "scratch").mkdir()
    container.hf_merger.override(providers.Object(ScaledDeltaMerger(0.0, tmp_path / "scratch")))
    request = PublishRequest(checkpoint=str(finetune), formats=("fp8-dynamic", "w4a16"), destinations=(f"dir:{tmp_path / 'out'}",))
    with pytest.raises(QualityGateFailed) as failed:
        container.execute_plan().execute(request)
    message = failed.value.message
    assert message.startswith("quality gate failed, nothing was published")
    assert "fp8-dynamic: mean_kl=" in message and "w4a16: mean_kl=" in message and "(on the base model: mean_kl=" in message
    assert not (tmp_path / "out").exists()


def test_a_missing_environment_is_refused_at_plan_time(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    _, ckpt = tiny_model
    dest = tmp_path / "published"
    for command in ("plan", "publish"):
        args = (command, str(ckpt), "-f", "w4a16", "--workspace", str(tmp_path / "ws"))
        result = cli(*args, *(("--to", f"dir:{dest}") if command == "publish" else ()), env={HOME_ENV: str(tmp_path / "none")})
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "hubship[vllm]" in lines[0] and "make setup" in lines[0], lines
    assert not dest.exists() and not any((tmp_path / "ws").rglob("*.safetensors"))


@pytest.mark.slow
def test_a_vision_language_model_keeps_its_vision_tower_in_16_bit(tmp_path: Path, cli) -> None:
    from tests.support.moe_vlm import build

    _, ckpt = build("qwen2_5_vl", tmp_path / "vlm")
    dest = tmp_path / "published"
    result = cli("publish", str(ckpt), "-f", "fp8-dynamic", "--workspace", str(tmp_path / "ws"), "--to", f"dir:{dest}", "--quiet")
    assert result.returncode == 0, result.stderr
    folder = next(dest.rglob("fp8-dynamic"))
    assert json.loads((folder / "manifest.json").read_text())["verification"]["passed"]
    ignored = json.loads((folder / "config.json").read_text())["quantization_config"]["ignore"]
    assert "lm_head" in ignored and any(name.startswith("visual.blocks.") for name in ignored)
    dtypes = {}
    for path in folder.glob("*.safetensors"):
        with safe_open(str(path), framework="pt") as f:
            dtypes |= {key: f.get_tensor(key).dtype for key in f.keys()}  # noqa: SIM118 (safe_open is not a mapping)
    vision = [k for k in dtypes if "visual" in k and k.endswith("proj.weight")]
    language = [k for k in dtypes if "visual" not in k and k.endswith("q_proj.weight")]
    assert vision and all(dtypes[k] == torch.float32 for k in vision), "the vision tower is not quantized"
    assert language and all(dtypes[k] == torch.float8_e4m3fn for k in language)


def test_a_failing_llm_compressor_run_is_one_line_naming_its_cause(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = tiny_model
    (tmp_path / "out").mkdir()
    with pytest.raises(PublishError, match=r"^llm-compressor failed on .* \(W4A16\): ValueError: the calibration text is too short"):
        LlmCompressorCompressor().compress(
            base, tmp_path / "out", scheme="W4A16", ignore=("lm_head",), calibration="hi", progress=FakeProgress()
        )
    assert not (tmp_path / "out" / "config.json").exists()


def test_w4a16_of_a_model_whose_columns_do_not_fill_its_groups_is_refused_at_plan_time(tmp_path: Path, cli) -> None:
    """SmolLM2-135M's hidden size, 576, is not a multiple of W4A16's 128-column groups: llm-compressor would fail on
    it after the merge; hubship says so at plan time (the tiny Llama with hidden size 192 here)."""
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    _, ckpt = HfDemoCheckpointFactory().create(tmp_path / "odd", dtype="float32", hidden_size=192)
    result = cli("plan", str(ckpt), "-f", "w4a16", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "groups of 128 input columns" in lines[0] and "has 192" in lines[0] and "fp8-dynamic" in lines[0]
    assert cli("plan", str(ckpt), "-f", "fp8-dynamic", "--workspace", str(tmp_path / "ws")).returncode == 0
