"""MLX formats on the tiny real model: built by mlx_lm.convert from the plan's merged-16bit, loaded back by mlx-lm's
own `load` and `generate`, measured against the reference with the runtime's and the quantization's losses apart;
a broken merge fails the default gate; a missing extra and an architecture mlx-lm lacks are refused at plan time."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from dependency_injector import providers

from hubship.adapters.mlx.metrics import kl_metrics as numpy_kl_metrics
from hubship.adapters.mlx.support import unsupported
from hubship.adapters.torch.verify.metrics import kl_metrics as torch_kl_metrics
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from tests.conftest import REPO
from tests.fakes.merger import ScaledDeltaMerger
from tests.support import hub_fixtures
from tests.support.checkpoints import point_adapter_at
from tests.support.hub_fixtures import BASE_REPO, check_against_manifest, download, host_base

hub, hub_env, hub_container = hub_fixtures.hub, hub_fixtures.hub_env, hub_fixtures.hub_container  # the stand-in Hub

# make setup installs the mlx extra wherever mlx ships wheels, so there a missing mlx-lm fails these tests
MLX_PLATFORM = (sys.platform, platform.machine()) in {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "arm64")}
needs_mlx = pytest.mark.skipif(not MLX_PLATFORM, reason="mlx ships no wheels for this platform")
ROPE_THETA = 100_000.0  # SmolLM2's: mlx-lm's Llama defaults to 10000 when config.json has it only under rope_parameters


@pytest.fixture(scope="module")
def smol_rope(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the tiny model whose base has SmolLM2's rope_theta, written as transformers 5 writes it."""
    root = tmp_path_factory.mktemp("smol-rope")
    base, checkpoint = root / "base", root / "my-finetune"
    shutil.copytree(tiny_model[0], base)
    shutil.copytree(tiny_model[1], checkpoint)
    config = json.loads((base / "config.json").read_text())
    assert "rope_theta" not in config, "transformers 5 keeps it under rope_parameters only"
    config["rope_parameters"] = {**config["rope_parameters"], "rope_theta": ROPE_THETA}
    (base / "config.json").write_text(json.dumps(config, indent=2))
    point_adapter_at(checkpoint, str(base))
    return checkpoint


@needs_mlx
@pytest.mark.slow
def test_publish_mlx_4bit_loads_and_generates_with_mlx_lm(smol_rope: Path, tmp_path: Path, cli) -> None:
    import mlx.core as mx
    from mlx_lm import generate, load

    dest = tmp_path / "published"
    result = cli("publish", str(smol_rope), "-f", "mlx-4bit", "--workspace", str(tmp_path / "ws"), "--to", f"dir:{dest}", "--quiet")
    assert result.returncode == 0, result.stderr
    folder = next(dest.rglob("mlx-4bit"))
    assert [p.parent.name for p in dest.rglob("manifest.json")] == ["mlx-4bit"]
    manifest = json.loads((folder / "manifest.json").read_text())
    verification = manifest["verification"]
    metrics = verification["metrics"]
    assert verification["passed"] and verification["breaches"] == []
    assert metrics["runtime_kl"] < 1e-6, "fp32 weights: mlx-lm runs this Llama as transformers does, RoPE included"
    assert 0 < metrics["quantization_kl"] < 0.1 and metrics["mean_kl"] == pytest.approx(metrics["quantization_kl"], rel=0.05)
    assert set(verification["thresholds"]) == {"runtime_kl", "quantization_kl"}
    assert manifest["params"] == {"bits": 4, "group_size": 64} and "merged-16bit" in manifest["built_from"]

    config = json.loads((folder / "config.json").read_text())
    assert config["quantization"] == {"group_size": 64, "bits": 4, "mode": "affine"}
    assert config["rope_theta"] == ROPE_THETA
    card = (folder / "README.md").read_text()
    assert "library_name: mlx" in card and "base_model_relation: quantized" in card
    assert f'load("{folder}")' in card and "generate(model, tokenizer" in card and "runtime_kl" in card and "quantization_kl" in card
    assert "rope_theta copied from rope_parameters to the top level" in card
    assert (folder / "chat_template.jinja").read_text() == (smol_rope / "chat_template.jinja").read_text()

    model, tokenizer = load(str(folder))  # mlx-lm's own loader, as a user runs it
    assert model.args.rope_theta == ROPE_THETA
    assert any(type(m).__name__ == "QuantizedLinear" for _, m in model.named_modules())
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hello"}], add_generation_prompt=True)
    text = generate(model, tokenizer, prompt=prompt, max_tokens=4)
    assert isinstance(text, str)
    logits = model(mx.array([[1, 5, 9]]))
    assert logits.shape[-1] == config["vocab_size"] and bool(mx.all(mx.isfinite(logits)))


@needs_mlx
@pytest.mark.slow
def test_each_mlx_format_goes_to_a_hub_repo_of_its_own_in_one_commit(hub, hub_container, tiny_model, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard
    from mlx_lm import load

    checkpoint = host_base(hub, *tiny_model, tmp_path / "tiny-sft")
    request = PublishRequest(checkpoint=str(checkpoint), formats=("mlx-4bit", "mlx-8bit"), destinations=("hf:alice/tiny",), options={})
    result = hub_container.execute_plan().execute(request)
    assert sorted(result.published) == ["alice/tiny-MLX-4bit", "alice/tiny-MLX-8bit"]
    for repo_id, bits in (("alice/tiny-MLX-4bit", 4), ("alice/tiny-MLX-8bit", 8)):
        assert len(hub.commits(repo_id)) == 1
        folder = download(hub, repo_id, tmp_path / repo_id.replace("/", "_"))
        check_against_manifest(folder)
        card = ModelCard(hub.file_bytes(repo_id, "README.md").decode())
        assert (card.data.library_name, card.data.base_model_relation, card.data.base_model) == ("mlx", "quantized", BASE_REPO)
        assert f'load("{repo_id}")' in card.text and "quantization_kl" in card.text
        model, _ = load(str(folder))  # the downloaded repo, with mlx-lm's own loader
        assert json.loads((folder / "config.json").read_text())["quantization"]["bits"] == bits
        assert any(type(m).__name__ == "QuantizedLinear" for _, m in model.named_modules())


@needs_mlx
@pytest.mark.slow
def test_a_merge_that_dropped_the_adapter_fails_the_default_gate(container, tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    container.hf_merger.override(providers.Object(ScaledDeltaMerger(0.0, tmp_path / "scratch")))  # the adapter dropped
    request = PublishRequest(checkpoint=str(tiny_model[1]), formats=("mlx-4bit",), destinations=(f"dir:{tmp_path / 'out'}",), options={})
    with pytest.raises(QualityGateFailed) as failed:
        container.execute_plan().execute(request)
    message = failed.value.message
    assert message.startswith("quality gate failed, nothing was published (mlx-4bit: runtime_kl="), message
    assert "(on the base model: runtime_kl=" in message and "quantization_kl" not in message.split(";")[0]
    assert not (tmp_path / "out").exists()


def test_a_missing_extra_is_refused_at_plan_time(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    hide = "import sys; sys.modules['mlx_lm'] = None; sys.argv[0] = 'hubship'; from hubship.entrypoints.cli import main; main()"
    dest = tmp_path / "published"
    args = ["publish", str(tiny_model[1]), "-f", "mlx-4bit", "--workspace", str(tmp_path / "ws"), "--to", f"dir:{dest}"]
    result = subprocess.run([sys.executable, "-c", hide, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "hubship: error: format mlx-4bit needs the mlx extra (mlx-lm); pip install 'hubship[mlx]'"
    assert not dest.exists()


def _opt_checkpoint(tiny_model: tuple[Path, Path], root: Path) -> Path:
    """A tiny OPT base (an architecture transformers runs and mlx-lm does not) with a LoRA, the tiny model's tokenizer."""
    from peft import LoraConfig, get_peft_model
    from transformers import OPTConfig, OPTForCausalLM

    base, checkpoint = root / "opt-base", root / "opt-finetune"
    vocab = json.loads((tiny_model[0] / "config.json").read_text())["vocab_size"]
    torch.manual_seed(0)
    config = OPTConfig(vocab_size=vocab, hidden_size=64, ffn_dim=128, num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=64)
    OPTForCausalLM(config).save_pretrained(base)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    tuned = get_peft_model(OPTForCausalLM.from_pretrained(base), lora)
    tuned.save_pretrained(checkpoint)
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json"):
        for folder in (base, checkpoint):
            shutil.copy(tiny_model[0] / name, folder / name)
    point_adapter_at(checkpoint, str(base))
    return checkpoint


@needs_mlx
@pytest.mark.slow
def test_an_architecture_mlx_lm_lacks_is_refused_at_plan_time(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    checkpoint = _opt_checkpoint(tiny_model, tmp_path)
    dest = tmp_path / "published"
    result = cli("publish", str(checkpoint), "-f", "mlx-4bit", "--workspace", str(tmp_path / "ws"), "--to", f"dir:{dest}", "--quiet")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mlx-lm 0.32.2 cannot run model type 'opt' (OPTForCausalLM)" in lines[0], lines
    assert not dest.exists()


@needs_mlx
@pytest.mark.parametrize(
    ("model_type", "architecture"),
    [("llama", "LlamaForCausalLM"), ("mistral", "MistralForCausalLM"), ("qwen2", "Qwen2ForCausalLM"), ("opt", "OPTForCausalLM"),
     ("gpt_neo", "GPTNeoForCausalLM"), ("bailing_hybrid", "BailingMoeV3ForCausalLM")],
)
def test_the_plans_architecture_answer_is_mlx_lms_own(model_type: str, architecture: str) -> None:
    from mlx_lm.utils import _get_classes  # what mlx_lm.load itself runs; the plan reads its tables without importing it

    try:
        _get_classes({"model_type": model_type, "architectures": [architecture]})
        runs = True
    except ValueError:
        runs = False
    assert (unsupported(model_type, architecture) is None) == runs


def test_numpy_metrics_are_the_torch_verifiers() -> None:
    generator = np.random.default_rng(0)
    reference = generator.normal(size=(40, 300)).astype(np.float32) * 4
    artifact = reference + generator.normal(size=reference.shape).astype(np.float32) * 0.5
    ours = numpy_kl_metrics(artifact, reference)
    theirs = torch_kl_metrics(torch.from_numpy(artifact), torch.from_numpy(reference))
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12) and ours["mean_kl"] > 0 and ours["top1_agreement"] < 1
