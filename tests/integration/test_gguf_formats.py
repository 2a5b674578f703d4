"""GGUF formats through the real llama.cpp on a tiny Llama (SentencePiece): one conversion feeds every
quantization, the files run in llama-cpp-python and match transformers, metadata travels inside the GGUF."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from llama_cpp import Llama
from peft import PeftModel
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from hubship.adapters.llama_cpp.converter import LlamaCppConverter
from hubship.adapters.llama_cpp.gguf_verifier import LlamaCppGgufVerifier, compare, gguf_logits
from hubship.application.formats.gguf import REFERENCE
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from hubship.entrypoints.container import create_container
from tests.fakes.converter import FakeConverter
from tests.fakes.progress import FakeProgress
from tests.support.sharp_model import sharpened_copy

pytestmark = pytest.mark.slow
NAME = "tiny-ft"
PROBE = (
    "The quick brown fox jumps over the lazy dog. Hello world, this is a tiny model trained for tests."
    " A merged model must give the same logits as the base with its adapter."
)


@pytest.fixture(scope="module")
def model(tiny_model, tmp_path_factory) -> tuple[Path, Path]:
    """(base, checkpoint): tiny_model with clear next-token winners (tests/support/sharp_model.py)."""
    return sharpened_copy(tiny_model, tmp_path_factory.mktemp("gguf-model"))


@pytest.fixture(scope="module")
def publisher(model, tmp_path_factory):
    """Publishes the model to dir:<root>/out through one container whose converter counts its runs."""
    root = tmp_path_factory.mktemp("gguf-publish")
    container = create_container({"workspace": root / "ws", "quiet": True})
    converter = FakeConverter(LlamaCppConverter())
    container.converter.override(converter)

    def publish(formats: str, out: str = "out", **options):
        request = PublishRequest(
            checkpoint=str(model[1]), formats=(formats,), destinations=(f"dir:{root / out}",), name=NAME, options=options
        )
        return container.execute_plan().execute(request)

    yield SimpleNamespace(publish=publish, converter=converter, root=root)
    container.reset_override()


@pytest.fixture(scope="module")
def quants(publisher):
    """gguf-f16, gguf-q8_0 and gguf-q4_k_m in one publish; returns the published folder."""
    publisher.publish("gguf-f16,gguf-q8_0,gguf-q4_k_m")
    return publisher.root / "out" / NAME


@pytest.fixture(scope="module")
def reference(model, tmp_path_factory) -> SimpleNamespace:
    """Base + adapter, unmerged, in transformers (fp32): logits on the probe, saved as a verification reference."""
    base, checkpoint = model
    ids = AutoTokenizer.from_pretrained(checkpoint)(PROBE)["input_ids"]
    torch_model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    with torch.no_grad():
        base_only = torch_model(torch.tensor([ids])).logits[0].numpy()
        logits = PeftModel.from_pretrained(torch_model, checkpoint).eval()(torch.tensor([ids])).logits[0].numpy()
    path = tmp_path_factory.mktemp("reference") / "reference.safetensors"
    save_numpy({"input_ids": np.array(ids, dtype=np.int64), "logits": logits.astype(np.float32)}, str(path))
    return SimpleNamespace(ids=ids, logits=logits, base_only=base_only, path=path)


def _gguf(folder: Path) -> Path:
    (found,) = sorted(folder.glob("*.gguf"))
    return found


def test_several_quantizations_in_one_publish_convert_once(quants, publisher):
    assert publisher.converter.calls["convert"] == 1
    assert publisher.converter.calls["check"] == 1  # the plan-time preflight, shared by the three formats
    assert publisher.converter.calls["warm_up"] >= 1 and publisher.converter.calls["cool_down"] == 0
    assert publisher.converter.real._processes._warm is None  # the process started ahead did the conversion
    assert sorted(p.name for p in quants.iterdir()) == ["gguf-f16", "gguf-q4_k_m", "gguf-q8_0"]  # the intermediate stays internal


def test_an_unchanged_republish_runs_no_tool_and_publishes_nothing(quants, publisher, model):
    """A new process (a fresh container) on the same workspace: the inputs' hashes come from the cache by stat, so
    the plan knows nothing is to build and runs no preflight (no converter, no chat proof)."""
    container = create_container({"workspace": publisher.root / "ws", "quiet": True})
    converter = FakeConverter(LlamaCppConverter())
    container.converter.override(converter)
    request = PublishRequest(
        checkpoint=str(model[1]), formats=("gguf-f16,gguf-q8_0,gguf-q4_k_m",), destinations=(f"dir:{publisher.root / 'out'}",), name=NAME
    )
    try:
        result = container.execute_plan().execute(request)
    finally:
        container.reset_override()
    assert not converter.calls and not result.published and len(result.skipped) == 3
    assert all(artifact.reused for artifact in result.artifacts)


def test_files_are_named_by_quantization_and_hashed_in_the_manifest(quants):
    for fmt, quant in (("gguf-f16", "F16"), ("gguf-q8_0", "Q8_0"), ("gguf-q4_k_m", "Q4_K_M")):
        gguf = _gguf(quants / fmt)
        assert gguf.name == f"{NAME}.{quant}.gguf"
        manifest = json.loads((quants / fmt / "manifest.json").read_text())
        (entry,) = [f for f in manifest["files"] if f["path"] == gguf.name]
        assert entry["sha256"] == hashlib.sha256(gguf.read_bytes()).hexdigest()


def test_f16_gguf_logits_match_transformers(quants, reference):
    measured = LlamaCppGgufVerifier().measure([_gguf(quants / "gguf-f16")], reference.path, progress=FakeProgress())
    assert measured["mean_kl"] <= 1e-3, measured
    assert measured["top1_agreement"] == 1.0, measured
    # the same yardstick does fail a model that is not base + adapter
    assert compare(reference.logits, reference.base_only)["mean_kl"] > 0.1


def test_quantizations_measure_their_loss_against_the_reference(quants, reference):
    q8 = compare(reference.logits, gguf_logits(_gguf(quants / "gguf-q8_0"), reference.ids))
    q4 = compare(reference.logits, gguf_logits(_gguf(quants / "gguf-q4_k_m"), reference.ids))
    assert q8["mean_kl"] < q4["mean_kl"] < 0.12
    assert q8["top1_agreement"] >= 0.9


@pytest.mark.parametrize("fmt", ["gguf-q8_0", "gguf-q4_k_m"])
def test_quantized_gguf_loads_and_generates(quants, fmt):
    llm = Llama(model_path=str(_gguf(quants / fmt)), n_ctx=128, n_threads=2, seed=0, verbose=False)
    out = llm.create_completion("The quick brown fox", max_tokens=8, temperature=0.0)
    llm.close()
    assert out["usage"]["completion_tokens"] >= 1
    assert isinstance(out["choices"][0]["text"], str)


def test_chat_template_special_tokens_and_metadata_travel_inside_the_gguf(quants, model):
    template = (model[1] / "chat_template.jinja").read_text()
    for fmt in ("gguf-f16", "gguf-q4_k_m"):
        llm = Llama(model_path=str(_gguf(quants / fmt)), vocab_only=True, verbose=False)
        meta = llm.metadata
        llm.close()
        assert meta["tokenizer.chat_template"] == template
        assert (meta["tokenizer.ggml.bos_token_id"], meta["tokenizer.ggml.eos_token_id"]) == ("1", "2")
        assert meta["general.name"] == NAME
        assert meta["general.license"] == "apache-2.0"
        assert meta["general.base_model.0.name"] == "Tiny Llama"  # the base's hub id (its config names acme/tiny-llama)
        assert meta["general.base_model.0.repo_url"] == "https://huggingface.co/acme/tiny-llama"


def test_manifest_and_card_carry_size_bits_per_weight_and_quality(quants):
    for fmt, low, high in (("gguf-f16", 15.5, 17.0), ("gguf-q4_k_m", 4.0, 7.0)):
        manifest = json.loads((quants / fmt / "manifest.json").read_text())
        metrics = manifest["verification"]["metrics"]
        assert metrics["file_size_bytes"] == _gguf(quants / fmt).stat().st_size
        assert low <= metrics["bits_per_weight"] <= high, metrics
        assert manifest["verification"]["thresholds"]["mean_kl"]["max"] > 0
        if REFERENCE in manifest["built_from"]:  # verification against base + adapter is in the plan
            assert manifest["verification"]["passed"] and metrics["mean_kl"] < manifest["verification"]["thresholds"]["mean_kl"]["max"]
        card = (quants / fmt / "README.md").read_text()
        assert f"{metrics['bits_per_weight']:.3g} bits per weight)" in card and "library_name: gguf" in card  # on the size line


def test_output_over_split_size_is_split_into_loadable_shards(quants, publisher, reference):
    before = dict(publisher.converter.calls)
    publisher.publish("gguf-q8_0", out="out-split", gguf_split_max_size=150_000)
    assert publisher.converter.calls["convert"] == before["convert"]  # the intermediate is reused
    assert publisher.converter.calls["cool_down"] > before.get("cool_down", 0)  # so the converter started ahead is stopped
    assert publisher.converter.real._processes._warm is None
    folder = publisher.root / "out-split" / NAME / "gguf-q8_0"
    shards = sorted(folder.glob("*.gguf"))
    assert len(shards) >= 2 and shards[0].name == f"{NAME}.Q8_0-00001-of-{len(shards):05d}.gguf"
    whole = gguf_logits(_gguf(quants / "gguf-q8_0"), reference.ids)
    np.testing.assert_array_equal(gguf_logits(shards[0], reference.ids), whole)


def test_gguf_lora_loads_with_the_base_gguf_in_llama_cpp(publisher, model, reference, tmp_path):
    publisher.publish("gguf-lora")
    lora = _gguf(publisher.root / "out" / NAME / "gguf-lora")
    assert lora.name == f"{NAME}.LoRA-F16.gguf"
    assert publisher.converter.calls["convert_lora"] == 1
    base_gguf = tmp_path / "base.F32.gguf"
    LlamaCppConverter().convert(model[0], base_gguf, outtype="f32", name="base", base_model=None, license=None, progress=FakeProgress())
    llm = Llama(model_path=str(base_gguf), lora_path=str(lora), n_ctx=256, n_batch=256, logits_all=True, verbose=False)
    llm.eval(reference.ids)
    with_adapter = np.array(llm.scores[: len(reference.ids)])
    llm.close()
    assert compare(reference.logits, with_adapter)["mean_kl"] <= 1e-3
    assert compare(reference.logits, gguf_logits(base_gguf, reference.ids))["mean_kl"] > 0.1  # the adapter is what closes the gap
    published = json.loads((publisher.root / "out" / NAME / "gguf-lora" / "manifest.json").read_text())
    verification = published["verification"]
    assert verification["passed"] and 0 <= verification["metrics"]["mean_kl"] <= verification["thresholds"]["mean_kl"]["max"]
    assert verification["metrics"]["top1_agreement"] == 1.0
    assert "the base converted to GGUF (F32) with this adapter applied" in verification["notes"][0]
    assert sorted(p.name for p in lora.parent.iterdir()) == sorted([lora.name, "README.md", "manifest.json"]), "no base GGUF left"


class DroppingConverter(FakeConverter):
    """Converts a copy of the adapter whose B matrices are zero: a LoRA converter that drops the deltas."""

    def __init__(self, real: LlamaCppConverter, scratch: Path) -> None:
        super().__init__(real)
        self.scratch = scratch

    def convert_lora(self, adapter_dir: Path, base_dir: Path, out_file: Path, **kwargs) -> None:
        dropped = self.scratch / "dropped"
        shutil.copytree(adapter_dir, dropped)
        weights = load_torch(str(dropped / "adapter_model.safetensors"))
        save_torch({k: v * 0 if "lora_B" in k else v for k, v in weights.items()}, str(dropped / "adapter_model.safetensors"))
        super().convert_lora(dropped, base_dir, out_file, **kwargs)


def test_a_gguf_lora_that_lost_its_deltas_fails_the_gate_and_publishes_nothing(model, tmp_path):
    container = create_container({"workspace": tmp_path / "ws", "quiet": True})
    container.converter.override(DroppingConverter(LlamaCppConverter(), tmp_path))
    request = PublishRequest(checkpoint=str(model[1]), formats=("gguf-lora",), destinations=(f"dir:{tmp_path / 'out'}",), name=NAME)
    with pytest.raises(QualityGateFailed, match=r"gguf-lora: mean_kl="):
        container.execute_plan().execute(request)
    container.reset_override()
    assert not (tmp_path / "out").exists()
