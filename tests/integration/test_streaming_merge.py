"""Exactness of the streaming merger: for every LoRA variant peft trains, the merged model's logits equal the
logits of base + adapter UNMERGED as peft computes them (PeftModel forward), max abs diff <= 1e-4 in fp32.

peft's own merge_and_unload is deliberately not the reference: with tied embeddings and a LoRA on
embed_tokens its saved merge differs from the model that was trained (see test_peft_merge_is_not_the_reference).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.merge import model_facts as model_facts_module
from hubship.adapters.torch.merge import shard_writer
from hubship.adapters.torch.streaming_merger import StreamingMerger
from hubship.domain.checkpoint import BaseRef
from hubship.domain.errors import UserInputError
from hubship.domain.manifest import WRITTEN_HASHES
from tests.fakes.progress import FakeProgress

TOLERANCE = 1e-4
ADAPTER = "adapter_model.safetensors"


def _edit_adapter(ckpt: Path, edit: Callable[[str, torch.Tensor], torch.Tensor]) -> None:
    """Rewrite the adapter's tensors, e.g. to make them look trained rather than freshly initialised."""
    tensors = load_file(ckpt / ADAPTER)
    save_file({k: edit(k, v).contiguous() for k, v in tensors.items()}, str(ckpt / ADAPTER), metadata={"format": "pt"})


def _small_embedding_delta(key: str, value: torch.Tensor) -> torch.Tensor:
    """A random embedding LoRA is ~100x a trained one; scale it to a trained size so fp32 logits stay comparable.

    lm_head's lora_A is scaled alike: with ensure_weight_tying the file holds it as the transposed copy of
    the embedding's lora_B, and the copies must stay equal.
    """
    return value * 0.01 if key.endswith(("lora_embedding_B", "lm_head.lora_A.weight")) else value


def _trained_magnitude(key: str, value: torch.Tensor) -> torch.Tensor:
    """DoRA's magnitude starts as ||W + dW|| (making DoRA equal LoRA); training moves it."""
    if "lora_magnitude_vector" not in key:
        return value
    return value * (1 + 0.3 * torch.randn(value.shape, generator=torch.Generator().manual_seed(1)))


def _llama(root: Path, lora: dict[str, Any], edit: Callable[[str, torch.Tensor], torch.Tensor] | None = None, **kwargs: Any):
    base, ckpt = HfDemoCheckpointFactory().create(root, dtype="float32", hidden_size=64, layers=2, lora=lora, **kwargs)
    if edit is not None:
        _edit_adapter(ckpt, edit)
    return base, ckpt


def _gpt2(root: Path) -> tuple[Path, Path]:
    """GPT-2 stores its linears as Conv1D (in, out): peft's fan_in_fan_out; with lora_bias on its biased layers; tied head."""
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=320, n_positions=256, n_embd=64, n_layer=2, n_head=4, bos_token_id=1, eos_token_id=2))
    model.save_pretrained(root / "base")
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True, lora_bias=True, init_lora_weights=False
    )
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(root / "checkpoint")
    adapter_config = json.loads((root / "checkpoint" / "adapter_config.json").read_text())
    adapter_config["base_model_name_or_path"] = str((root / "base").resolve())
    (root / "checkpoint" / "adapter_config.json").write_text(json.dumps(adapter_config))
    return root / "base", root / "checkpoint"


VARIANTS: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "lora": lambda root: _llama(root, {}),
    "rslora": lambda root: _llama(root, {"use_rslora": True, "r": 16, "lora_alpha": 8}),
    "rank_and_alpha_pattern": lambda root: _llama(
        root, {"rank_pattern": {"q_proj": 4, "layers.1.mlp.up_proj": 2}, "alpha_pattern": {"v_proj": 3, "down_proj": 32}}
    ),
    "dora": lambda root: _llama(root, {"use_dora": True}, _trained_magnitude),
    "dora_on_embedding": lambda root: _llama(
        root,
        {"use_dora": True, "target_modules": ["embed_tokens", "v_proj"]},
        lambda k, v: _trained_magnitude(k, _small_embedding_delta(k, v)),
    ),
    "embedding_lora": lambda root: _llama(root, {"target_modules": ["embed_tokens", "q_proj", "lm_head"]}, _small_embedding_delta),
    "modules_to_save": lambda root: _llama(root, {"modules_to_save": ["lm_head", "embed_tokens"]}),
    "tied_embedding_lora": lambda root: _llama(
        root, {"target_modules": ["embed_tokens", "q_proj"]}, _small_embedding_delta, tie_word_embeddings=True
    ),
    "tied_lm_head_lora": lambda root: _llama(root, {"target_modules": ["lm_head", "v_proj"]}, tie_word_embeddings=True),
    "tied_ensure_weight_tying": lambda root: _llama(
        root, {"target_modules": ["embed_tokens", "q_proj"], "ensure_weight_tying": True}, _small_embedding_delta, tie_word_embeddings=True
    ),
    "tied_modules_to_save": lambda root: _llama(root, {"modules_to_save": ["embed_tokens"]}, tie_word_embeddings=True),
    "added_tokens": lambda root: _llama(root, {}, added_tokens=5),
    "added_tokens_tied": lambda root: _llama(root, {}, added_tokens=5, tie_word_embeddings=True),
    "fan_in_fan_out_and_lora_bias": _gpt2,
}


def _adapter_vocab(base: Path, ckpt: Path) -> int:
    vocab = json.loads((base / "config.json").read_text())["vocab_size"]
    rows = [v.shape[0] for k, v in load_file(ckpt / ADAPTER).items() if k.endswith(("embed_tokens.weight", "lm_head.weight"))]
    return max([vocab, *rows])


def peft_unmerged_logits(base: Path, ckpt: Path, ids: torch.Tensor) -> torch.Tensor:
    """The truth: the model as it was trained, base + adapter unmerged, run by peft (base resized for added tokens)."""
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    vocab = _adapter_vocab(base, ckpt)
    if vocab != model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(vocab, mean_resizing=False)
    peft_model = PeftModel.from_pretrained(model, ckpt).eval()
    with torch.no_grad():
        return peft_model(input_ids=ids[None]).logits[0]


def merged_logits(model_dir: Path, ids: torch.Tensor) -> torch.Tensor:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        return model(input_ids=ids[None]).logits[0]


def merge(base: Path, ckpt: Path, out: Path, *, dtype: str | None = "fp32", max_shard_bytes: int = 5 * 1000**3) -> Path:
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    out.mkdir(parents=True, exist_ok=True)
    StreamingMerger().merge(checkpoint, info, out, dtype=dtype, max_shard_bytes=max_shard_bytes, progress=FakeProgress())
    return out


def probe(base: Path, ckpt: Path, length: int = 96) -> torch.Tensor:
    """Random ids over the whole (possibly grown) vocabulary, ending with the newest ones."""
    vocab = _adapter_vocab(base, ckpt)
    ids = torch.randint(0, vocab, (length,), generator=torch.Generator().manual_seed(0))
    ids[-4:] = torch.arange(vocab - 4, vocab)
    return ids


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_merged_logits_equal_the_unmerged_adapter(variant: str, tmp_path: Path) -> None:
    base, ckpt = VARIANTS[variant](tmp_path)
    ids = probe(base, ckpt)
    expected = peft_unmerged_logits(base, ckpt, ids)
    out = merge(base, ckpt, tmp_path / "merged")
    got = merged_logits(out, ids)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= TOLERANCE, f"{variant}: merged logits differ from base + adapter"
    assert [p.name for p in out.glob(".*")] == [WRITTEN_HASHES], "temporary files were left behind"
    written = json.loads((out / WRITTEN_HASHES).read_text())  # hashed while written: each digest is the file's own
    assert {name: entry[3] for name, entry in written.items()} == {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in written
    } and "config.json" in written


def test_tied_model_is_untied_and_config_follows_the_checkpoint(tmp_path: Path) -> None:
    base, ckpt = VARIANTS["tied_embedding_lora"](tmp_path)
    out = merge(base, ckpt, tmp_path / "merged")
    config = json.loads((out / "config.json").read_text())
    weights = load_file(out / "model.safetensors")
    assert config["tie_word_embeddings"] is False
    assert {"model.embed_tokens.weight", "lm_head.weight"} <= set(weights)
    assert not torch.equal(weights["model.embed_tokens.weight"], weights["lm_head.weight"])
    generation = json.loads((ckpt / "generation_config.json").read_text())
    assert (config["eos_token_id"], config["bos_token_id"]) == (generation["eos_token_id"], generation["bos_token_id"])


def test_untouched_tied_model_stays_tied(tmp_path: Path) -> None:
    base, ckpt = _llama(tmp_path, {}, tie_word_embeddings=True)
    out = merge(base, ckpt, tmp_path / "merged")
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is True
    assert "lm_head.weight" not in load_file(out / "model.safetensors")


def test_peft_merge_is_not_the_reference(tmp_path: Path) -> None:
    """Why the tests compare with the unmerged model: peft's merge of a tied embedding LoRA leaves lm_head stale-or-changed."""
    base, ckpt = VARIANTS["tied_embedding_lora"](tmp_path)
    ids = probe(base, ckpt)
    peft_merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), ckpt).merge_and_unload()
    peft_merged.save_pretrained(tmp_path / "peft-merged")
    diff = float((merged_logits(tmp_path / "peft-merged", ids) - peft_unmerged_logits(base, ckpt, ids)).abs().max())
    assert diff > 100 * TOLERANCE


def test_shards_index_and_single_cast_to_bf16(tmp_path: Path) -> None:
    base, ckpt = VARIANTS["lora"](tmp_path)
    full = merge(base, ckpt, tmp_path / "fp32")
    sharded = merge(base, ckpt, tmp_path / "bf16", dtype="bf16", max_shard_bytes=100_000)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    files = sorted(set(index["weight_map"].values()))
    assert len(files) > 1 and all((sharded / f).stat().st_size <= 100_000 + 64 * 1024 for f in files if f != files[-1])
    reference = load_file(full / "model.safetensors")
    merged = {k: v for f in files for k, v in load_file(sharded / f).items()}
    assert set(merged) == set(reference) == set(index["weight_map"])
    for name, value in reference.items():  # fp32 math, one cast: exactly the fp32 merge rounded once
        assert merged[name].dtype == torch.bfloat16
        assert torch.equal(merged[name], value.to(torch.bfloat16)), name
    assert json.loads((sharded / "config.json").read_text())["dtype"] == "bfloat16"
    assert AutoModelForCausalLM.from_pretrained(sharded).dtype == torch.bfloat16


def test_default_dtype_is_the_bases(tmp_path: Path) -> None:
    base, ckpt = HfDemoCheckpointFactory().create(tmp_path, hidden_size=64, layers=1)  # a bf16 base
    out = merge(base, ckpt, tmp_path / "merged", dtype=None)
    assert {v.dtype for v in load_file(out / "model.safetensors").values()} == {torch.bfloat16}


def test_adapter_for_another_base_fails_before_writing(tmp_path: Path) -> None:
    _, ckpt = VARIANTS["lora"](tmp_path / "a")
    other, _ = HfDemoCheckpointFactory().create(tmp_path / "b", dtype="float32", hidden_size=96, layers=2)
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(other)))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UserInputError, match="does not fit"):
        StreamingMerger().merge(checkpoint, info, out, dtype="fp32", max_shard_bytes=10**9, progress=FakeProgress())
    assert not list(out.iterdir())


def test_plan_estimates_reflect_streaming(tiny_model: tuple[Path, Path]) -> None:
    """A 7B bf16 model (13.5 GB): the merge step needs about three of its biggest tensor, verification a layer."""
    from hubship.application.formats.memory import RUNTIME
    from hubship.application.formats.merged_16bit import Merged16bitFormat
    from hubship.domain.checkpoint import BaseInfo

    base = BaseInfo(
        path="/models/llama-7b",
        architecture="LlamaForCausalLM",
        model_type="llama",
        dtype="bf16",
        parameter_bytes=13_476_839_424,
        weight_files=("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"),
        vocab_size=32000,
        largest_tensor_bytes=32000 * 4096 * 2,
        num_layers=32,
    )
    builder = Merged16bitFormat()
    estimate = builder.estimate(SafetensorsCheckpointReader().read(tiny_model[1]), base, builder.params({}, base))
    assert base.parameter_bytes < estimate.size_bytes < base.parameter_bytes + 1e6  # the weights and the tokenizer beside them
    assert 0.5e9 < estimate.peak_memory_bytes - RUNTIME["torch"] < 0.15 * base.parameter_bytes  # beyond what torch itself takes


def test_writes_hashed_on_a_second_thread_give_each_files_own_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write big enough is hashed beside the write (a real model's tensors are MBs; this one's are kBs)."""
    monkeypatch.setattr(shard_writer, "PARALLEL_HASH_BYTES", 1)
    base, ckpt = VARIANTS["lora"](tmp_path)
    out = merge(base, ckpt, tmp_path / "merged", dtype="bf16", max_shard_bytes=100_000)
    written = json.loads((out / WRITTEN_HASHES).read_text())
    assert len([n for n in written if n.endswith(".safetensors")]) > 1
    assert {name: entry[3] for name, entry in written.items()} == {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in written
    }


def test_model_facts_are_kept_and_a_later_merge_of_the_same_base_reads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second merge from a base builds no modules (no transformers modeling import) and writes the same bytes; a
    kept file that cannot be read, or a changed config.json, means the modules are built again."""
    base, ckpt = VARIANTS["tied_lm_head_lora"](tmp_path)  # tied weights: the facts change what is written
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    cache = tmp_path / "facts"

    def run(out: Path) -> dict[str, bytes]:
        out.mkdir()
        StreamingMerger(facts_cache=cache).merge(checkpoint, info, out, dtype="fp32", max_shard_bytes=10**9, progress=FakeProgress())
        return {p.name: p.read_bytes() for p in out.iterdir() if not p.name.startswith(".")}

    first = run(tmp_path / "first")
    (kept,) = cache.glob("*.json")
    assert json.loads(kept.read_text())["tied"] == [["lm_head.weight", "model.embed_tokens.weight"]]
    built = model_facts_module._from_modules
    monkeypatch.setattr(model_facts_module, "_from_modules", lambda *a: pytest.fail("the modules were built again"))
    assert run(tmp_path / "second") == first
    kept.write_text("{not json")
    monkeypatch.setattr(model_facts_module, "_from_modules", built)
    assert run(tmp_path / "third") == first
    assert json.loads(kept.read_text())["embeddings"] == ["lm_head.weight", "model.embed_tokens.weight"]
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": False}))
    assert model_facts_module.model_facts(base, cache).tied == []  # another config: not the kept facts
    assert len(list(cache.glob("*.json"))) == 2
