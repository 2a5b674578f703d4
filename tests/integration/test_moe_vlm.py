"""MoE models with fused experts (Qwen3-MoE, Mixtral) and a vision-language model (Qwen2.5-VL) through the streaming
merge and verifier: tiny random models in their families' real config shapes (tests/support/moe_vlm.py), saved by
transformers 5 in the Hub's file layout while transformers 5 names and shapes them otherwise in memory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from dependency_injector import providers
from safetensors import safe_open

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier
from hubship.adapters.torch.meta_model import model_class, skeleton
from hubship.adapters.torch.model_files import file_keys, weight_files
from hubship.adapters.torch.streaming_merger import StreamingMerger
from hubship.adapters.torch.weight_layout import WeightLayout
from hubship.application.publish_request import PublishRequest
from hubship.domain.checkpoint import BaseRef
from hubship.domain.errors import PublishError, QualityGateFailed, UserInputError
from tests.fakes.merger import AlteredVisionMerger, DroppedExpertsMerger
from tests.fakes.progress import FakeProgress
from tests.support.moe_vlm import FAMILIES, build, model_logits, peft_logits, per_expert_adapter

MOE = ("qwen3_moe", "mixtral", "deepseek_v3", "gpt_oss")
PER_EXPERT_FILES = ("qwen3_moe", "mixtral", "deepseek_v3")  # gpt-oss's files store its experts fused, as in memory
CONVERTED = (*PER_EXPERT_FILES, "qwen2_5_vl")  # the families whose files transformers 5 converts as it loads them


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """(base, checkpoint) of each family (read-only: copy to modify)."""
    root = tmp_path_factory.mktemp("moe-vlm")
    return {family: build(family, root / family) for family in FAMILIES}


def _keys(folder: Path) -> dict[str, Path]:
    return file_keys([folder / name for name in weight_files(folder)])


def _reference(base: Path, ckpt: Path, out: Path) -> Path:
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    TorchLogitsVerifier().reference(checkpoint, info, out, FakeProgress())
    return out


def _merge(base: Path, ckpt: Path, out: Path) -> Path:
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    out.mkdir(parents=True)
    StreamingMerger().merge(checkpoint, info, out, dtype="fp32", max_shard_bytes=10**9, progress=FakeProgress())
    return out


def _publish(container, ckpt: Path, dest: Path, fmt: str = "merged-16bit") -> dict:
    request = PublishRequest(checkpoint=str(ckpt), formats=(fmt,), destinations=(f"dir:{dest}",))
    container.execute_plan().execute(request)
    return json.loads(next(dest.rglob(f"{fmt}/manifest.json")).read_text())


@pytest.mark.parametrize("family", CONVERTED)
def test_the_layout_builds_every_parameter_as_from_pretrained_does(family: str, models) -> None:
    """transformers' own mapping, not a table: every in-memory parameter the files store otherwise is built from
    them to the value from_pretrained loads, and the files' names for them are the ones save_pretrained writes."""
    base, _ = models[family]
    where = _keys(base)
    model = skeleton(base)
    layout = WeightLayout(model, where)
    with safe_open(str(where[next(iter(where))]), framework="pt") as f:
        read = f.get_tensor  # a tiny model: one file
        loaded = dict(model_class(model.config).from_pretrained(base, dtype=torch.float32).named_parameters())
        converted = [name for name in loaded if name not in where]
        assert converted, "transformers 5 names or shapes some of this family's parameters otherwise than its files"
        for name in converted:
            source = layout.source(name)
            assert source is not None, name
            assert torch.equal(layout.value(source, read), loaded[name]), name
    assert set(layout.to_files({n: p for n, p in model.state_dict().items()})) == set(where)


@pytest.mark.parametrize("family", FAMILIES)
def test_reference_equals_peft_unmerged_forward(family: str, models, tmp_path: Path) -> None:
    base, ckpt = models[family]
    with safe_open(str(_reference(base, ckpt, tmp_path / "ref.safetensors")), framework="pt") as f:
        ids, logits = f.get_tensor("input_ids"), f.get_tensor("logits")
    assert float((logits - peft_logits(base, ckpt, ids)).abs().max()) <= 1e-5


@pytest.mark.parametrize("family", FAMILIES)
def test_merge_equals_peft_and_keeps_the_base_file_layout(family: str, models, tmp_path: Path) -> None:
    base, ckpt = models[family]
    merged = _merge(base, ckpt, tmp_path / "merged")
    assert set(_keys(merged)) == set(_keys(base)), "the base's own names: one tensor per expert, model.layers.* for the VLM"
    ids = torch.arange(3, 90)
    truth = peft_logits(base, ckpt, ids)
    assert float((model_logits(merged, ids) - truth).abs().max()) <= 1e-4
    assert float((model_logits(base, ids) - truth).abs().max()) > 0.1, "the LoRA moves the logits"


@pytest.mark.parametrize("family", PER_EXPERT_FILES)
def test_a_per_expert_adapter_from_transformers_4_merges_and_verifies(family: str, models, tmp_path: Path) -> None:
    """Trained when experts were modules: a LoRA on each expert, named as the files name them. peft fuses it at load
    time for transformers 5; the reference runs it that way and the merge adds each pair to its expert's tensor."""
    base, like = models[family]
    ckpt = per_expert_adapter(base, like, tmp_path / "per-expert")
    with safe_open(str(_reference(base, ckpt, tmp_path / "ref.safetensors")), framework="pt") as f:
        ids, logits = f.get_tensor("input_ids"), f.get_tensor("logits")
    truth = peft_logits(base, ckpt, ids)
    assert float((logits - truth).abs().max()) <= 1e-5
    assert float((model_logits(base, ids) - truth).abs().max()) > 0.1, "the expert LoRAs move the logits"
    merged = _merge(base, ckpt, tmp_path / "merged")
    assert set(_keys(merged)) == set(_keys(base)) and float((model_logits(merged, ids) - truth).abs().max()) <= 1e-4


@pytest.mark.parametrize("family", MOE)
def test_the_expert_lora_moves_the_logits_measurably(family: str, models, tmp_path: Path) -> None:
    base, ckpt = models[family]
    reference = _reference(base, ckpt, tmp_path / "ref.safetensors")
    (tmp_path / "scratch").mkdir()
    without = tmp_path / "without-experts"
    without.mkdir()
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    broken = DroppedExpertsMerger(tmp_path / "scratch")
    broken.merge(checkpoint, info, without, dtype="fp32", max_shard_bytes=10**9, progress=FakeProgress())
    verifier = TorchLogitsVerifier()
    good = verifier.compare(_merge(base, ckpt, tmp_path / "merged"), reference, FakeProgress())
    dropped = verifier.compare(without, reference, FakeProgress())
    assert good["mean_kl"] <= 1e-9 and good["top1_agreement"] == 1.0
    assert dropped["mean_kl"] > 1e-3 and dropped["max_abs_diff"] > 0.05, dropped


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_merged_16bit_publishes_and_verifies_at_the_defaults(family: str, models, container, tmp_path: Path) -> None:
    base, ckpt = models[family]
    manifest = _publish(container, ckpt, tmp_path / "out")
    verification = manifest["verification"]
    assert verification["passed"] and verification["breaches"] == []
    assert verification["metrics"]["mean_kl"] <= 1e-9 and verification["metrics"]["max_abs_diff"] <= 1e-4
    folder = next((tmp_path / "out").rglob("merged-16bit"))
    assert set(_keys(folder)) == set(_keys(base))
    if family == "qwen2_5_vl":  # the vision tower, untouched by the LoRA, is the base's to the byte; the processor kept
        where, merged = _keys(base), _keys(folder)
        vision = [key for key in where if key.startswith("visual.")]
        assert len(vision) > 20
        for key in vision:
            with safe_open(str(where[key]), framework="pt") as b, safe_open(str(merged[key]), framework="pt") as m:
                assert torch.equal(b.get_tensor(key), m.get_tensor(key)) and b.get_tensor(key).dtype == m.get_tensor(key).dtype
        for name in ("preprocessor_config.json", "chat_template.jinja"):
            assert (folder / name).read_bytes() == (ckpt / name).read_bytes(), name
        assert verification["metrics"]["vision_tensors"] == len(vision) and verification["metrics"]["vision_tensors_wrong"] == 0


@pytest.mark.slow
def test_a_merge_that_alters_the_vision_tower_fails_the_gate(models, container, tmp_path: Path) -> None:
    """The probe's logits run the text path only: the vision tower is checked tensor by tensor against the base's."""
    _, ckpt = models["qwen2_5_vl"]
    container.hf_merger.override(providers.Object(AlteredVisionMerger()))
    with pytest.raises(QualityGateFailed, match=r"vision_tensors_wrong=1") as failed:
        _publish(container, ckpt, tmp_path / "out")
    assert "mean_kl" not in str(failed.value), "the text path is right: only the vision tower breaches"
    assert not (tmp_path / "out").exists()


def _in_bf16(base: Path, ckpt: Path, dest: Path) -> Path:
    """A copy of base and checkpoint whose base is stored in bf16, as gpt-oss ships (its experts dequantized)."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(base, dest / "base")
    shutil.copytree(ckpt, dest / "checkpoint")
    weights = dest / "base" / "model.safetensors"
    save_file({k: v.to(torch.bfloat16) for k, v in load_file(str(weights)).items()}, str(weights), metadata={"format": "pt"})
    config = json.loads((dest / "base" / "config.json").read_text())
    (dest / "base" / "config.json").write_text(json.dumps({**config, "dtype": "bfloat16"}))
    adapter = json.loads((dest / "checkpoint" / "adapter_config.json").read_text())
    (dest / "checkpoint" / "adapter_config.json").write_text(json.dumps({**adapter, "base_model_name_or_path": str(dest / "base")}))
    return dest / "checkpoint"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["mixtral", "qwen2_5_vl", "gpt_oss", "deepseek_v3", "gpt_oss_bf16"])
def test_merged_4bit_publishes_and_verifies_at_the_defaults(family: str, models, container, tmp_path: Path) -> None:
    """Mixtral's router is `mlp.gate` in memory and `block_sparse_moe.gate` on disk (the reference once looked for
    the former in the files); the vision-language model is quantized as the model class it is. gpt-oss in bf16:
    bitsandbytes quantizes Linear layers only and loads the fused experts in bf16 whatever dtype is asked, so the
    check runs them upcast (it failed with "self and mat2 must have the same dtype"). DeepSeek-V3's latent
    projections quantize as every Linear (the tiny model is shaped as bitsandbytes' CPU kernel needs, as the real one)."""
    if family == "gpt_oss_bf16":
        ckpt = _in_bf16(*models["gpt_oss"], tmp_path / "bf16")
    else:
        _, ckpt = models[family]
    verification = _publish(container, ckpt, tmp_path / "out", "merged-4bit")["verification"]
    assert verification["passed"] and 0 < verification["metrics"]["mean_kl"] < 0.1
    folder = next((tmp_path / "out").rglob("merged-4bit"))
    assert json.loads((folder / "config.json").read_text())["quantization_config"]["load_in_4bit"]


@pytest.mark.slow
@pytest.mark.parametrize("family", MOE)
def test_a_merge_that_drops_the_expert_deltas_fails_the_gate(family: str, models, container, tmp_path: Path) -> None:
    _, ckpt = models[family]
    (tmp_path / "scratch").mkdir()
    container.hf_merger.override(providers.Object(DroppedExpertsMerger(tmp_path / "scratch")))
    with pytest.raises(QualityGateFailed, match=r"^quality gate failed, nothing was published \(merged-16bit: .*mean_kl="):
        _publish(container, ckpt, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_targets_check_reads_in_memory_names(models, tmp_path: Path) -> None:
    """An adapter on the vision-language model names `model.language_model.*` (files: `model.layers.*`) and one on
    MoE experts names the fused `mlp.experts`: both fit their base. One that fits nothing is still refused."""
    loader = HfTransformersLoader()
    for family in FAMILIES:
        base, ckpt = models[family]
        loader.check_compatible(SafetensorsCheckpointReader().read(ckpt), loader.base_info(BaseRef(path=str(base))))
    wrong = tmp_path / "wrong"
    shutil.copytree(models["qwen2_5_vl"][1], wrong)
    moe_base = loader.base_info(BaseRef(path=str(models["qwen3_moe"][0])))
    with pytest.raises(UserInputError, match=r"the adapter targets model\.language_model\.layers\.0\.\S+, which base model"):
        loader.check_compatible(SafetensorsCheckpointReader().read(wrong), moe_base)


def test_an_adapter_for_another_model_is_refused_in_one_line(models, cli, tmp_path: Path) -> None:
    _, vlm_adapter = models["qwen2_5_vl"]
    moe_base, _ = models["qwen3_moe"]
    result = cli("plan", str(vlm_adapter), "--base", str(moe_base), "-f", "merged-16bit", "--workspace", str(tmp_path / "ws"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "the adapter targets model.language_model.layers.0." in lines[0] and "pass --base with the model" in lines[0]


def test_a_built_model_that_does_not_run_is_a_tool_failure(models, tmp_path: Path) -> None:
    """The verifier runs hubship's own artifact: when it cannot, the tool failed (exit 1), not the user's input."""
    from safetensors.torch import save_file

    built = tmp_path / "built"
    shutil.copytree(models["qwen3_moe"][0], built)
    config = json.loads((built / "config.json").read_text())
    (built / "config.json").write_text(json.dumps({**config, "model_type": "no_such_model"}))  # transformers cannot build it
    save_file({"input_ids": torch.arange(3, 20), "logits": torch.zeros(17, config["vocab_size"])}, str(tmp_path / "ref.safetensors"))
    with pytest.raises(PublishError, match=r"^running the built model in .* failed: ") as failed:
        TorchLogitsVerifier().compare(built, tmp_path / "ref.safetensors", FakeProgress())
    assert failed.value.exit_code == 1


def test_a_rank_that_does_not_match_the_config_is_refused(models, tmp_path: Path) -> None:
    """A fused LoRA's rank is r per expert, so its weights' rank is a multiple of r; a module's LoRA whose rank is a
    multiple of r but not r is still refused, never merged with a made-up scaling."""
    base, ckpt = models["qwen3_moe"]
    wrong = tmp_path / "wrong-rank"
    shutil.copytree(ckpt, wrong)
    config = json.loads((wrong / "adapter_config.json").read_text())
    (wrong / "adapter_config.json").write_text(json.dumps({**config, "r": 2}))
    with pytest.raises(UserInputError, match=r"gives model\.layers\.\d\.\S+ rank 2 but its weights have rank 4"):
        _merge(base, wrong, tmp_path / "merged")
    assert not list((tmp_path / "merged").iterdir())
