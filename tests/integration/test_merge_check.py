"""The per-tensor merge check (adapters/torch/verify/layer_check.py, docs/adr/023): every merged tensor against what
peft's own per-layer merge gives for its layer. A correct merge passes for every LoRA variant peft trains, in
every output dtype; a merge that is wrong anywhere (a lost or doubled delta, one element off, a stale tied head,
a wrong dtype, a missing tensor) does not."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.verify.layer_check import TorchMergeCheck
from hubship.adapters.torch.verify.tensor_compare import ulp_error
from hubship.domain.checkpoint import BaseRef
from hubship.domain.errors import PublishError
from tests.fakes.merger import ScaledDeltaMerger
from tests.fakes.progress import FakeProgress
from tests.integration.test_streaming_merge import VARIANTS, merge

HALF_ULP = 0.51  # merged-16bit's default bound for bf16 and fp16


def _check(base: Path, ckpt: Path, merged: Path, dtype: str) -> dict:
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    return TorchMergeCheck().check(checkpoint, info, merged, dtype, FakeProgress())


def _weights(folder: Path) -> Path:
    return next(folder.glob("*.safetensors"))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_correct_merge_is_within_half_an_ulp_of_peft_for_every_variant(variant: str, tmp_path: Path) -> None:
    base, ckpt = VARIANTS[variant](tmp_path)
    merged = merge(base, ckpt, tmp_path / "merged", dtype="bf16")
    checked = _check(base, ckpt, merged, "bf16")
    assert checked["uncovered"] == [] and checked["tensors"] == len(load_file(_weights(merged)))
    assert checked["merge_error"] <= HALF_ULP, checked


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_other_output_dtypes_pass_their_bound(dtype: str, tmp_path: Path) -> None:
    base, ckpt = VARIANTS["dora"](tmp_path)
    checked = _check(base, ckpt, merge(base, ckpt, tmp_path / "merged", dtype=dtype), dtype)
    assert checked["merge_error"] <= {"fp32": 64.0, "fp16": HALF_ULP}[dtype], checked


@pytest.mark.parametrize("factor", [0.0, 0.5, 2.0], ids=["dropped", "halved", "doubled"])
def test_a_wrong_delta_is_caught(factor: float, tmp_path: Path) -> None:
    base, ckpt = VARIANTS["lora"](tmp_path)
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    (tmp_path / "scratch").mkdir()
    (tmp_path / "merged").mkdir()
    ScaledDeltaMerger(factor, tmp_path / "scratch").merge(
        checkpoint, info, tmp_path / "merged", dtype="bf16", max_shard_bytes=10**9, progress=FakeProgress()
    )
    assert _check(base, ckpt, tmp_path / "merged", "bf16")["merge_error"] > 10


def _edit(folder: Path, name: str, change) -> None:
    path = _weights(folder)
    tensors = load_file(path)
    tensors = change(tensors, name)
    save_file(tensors, str(path), metadata={"format": "pt"})


def test_one_element_off_by_two_ulps_is_caught(tmp_path: Path) -> None:
    base, ckpt = VARIANTS["lora"](tmp_path)
    merged = merge(base, ckpt, tmp_path / "merged", dtype="bf16")

    def nudge(tensors: dict, name: str) -> dict:
        flat = tensors[name].view(-1)
        _, exponent = torch.frexp(flat[7].float())
        flat[7] = (flat[7].float() + torch.ldexp(torch.tensor(2 * 2**-7), exponent - 1)).bfloat16()  # two ulps up
        return tensors

    _edit(merged, "model.layers.0.self_attn.q_proj.weight", nudge)
    assert _check(base, ckpt, merged, "bf16")["merge_error"] >= 1.0


def test_a_stale_copy_of_an_untouched_tensor_is_caught(tmp_path: Path) -> None:
    base, ckpt = VARIANTS["lora"](tmp_path)
    merged = merge(base, ckpt, tmp_path / "merged", dtype="bf16")
    _edit(merged, "model.norm.weight", lambda t, n: {**t, n: t[n] * 1.5})
    assert _check(base, ckpt, merged, "bf16")["merge_error"] > 10


def test_a_tied_head_left_with_the_merged_embedding_is_caught(tmp_path: Path) -> None:
    """peft's own merge_and_unload writes this: the tied head changed with the embedding's delta."""
    base, ckpt = VARIANTS["tied_embedding_lora"](tmp_path)
    merged = merge(base, ckpt, tmp_path / "merged", dtype="bf16")
    _edit(merged, "lm_head.weight", lambda t, n: {**t, n: t["model.embed_tokens.weight"].clone()})
    assert _check(base, ckpt, merged, "bf16")["merge_error"] > 10


def test_structural_mistakes_are_publish_errors(tmp_path: Path) -> None:
    base, ckpt = VARIANTS["lora"](tmp_path)
    merged = merge(base, ckpt, tmp_path / "merged", dtype="bf16")
    for name, change, message in [
        ("model.norm.weight", lambda t, n: {**t, n: t[n].half()}, r"holds model\.norm\.weight as F16, not bf16"),
        ("model.norm.weight", lambda t, n: {k: v for k, v in t.items() if k != n}, r"lacks model\.norm\.weight"),
        ("model.norm.weight", lambda t, n: {**t, "model.norm2.weight": t[n].clone()}, r"holds model\.norm2\.weight, which neither"),
    ]:
        broken = tmp_path / f"broken-{len(list(tmp_path.glob('broken-*')))}"
        shutil.copytree(merged, broken)
        _edit(broken, name, change)
        with pytest.raises(PublishError, match=message):
            _check(base, ckpt, broken, "bf16")
    config = json.loads((merged / "config.json").read_text())
    (merged / "config.json").write_text(json.dumps({**config, "dtype": "float16"}))
    with pytest.raises(PublishError, match=r"config\.json says dtype float16, not bfloat16"):
        _check(base, ckpt, merged, "bf16")


def test_ulp_error_measures_in_the_written_dtype() -> None:
    exact = torch.tensor([1.0, 0.5, -3.0, 1e-30])
    assert ulp_error(exact.bfloat16(), exact) == 0.0
    just_above = torch.tensor([1.0 + 2**-9])  # rounds to 1.0 in bf16 (an ulp is 2**-7 there): rounded once, no error
    assert ulp_error(just_above.bfloat16(), just_above) == 0.0
    assert ulp_error(torch.tensor([1.0 + 2**-7]).bfloat16(), just_above) == pytest.approx(0.75), "rounded the wrong way"
    assert ulp_error(torch.tensor([1.0 + 2**-6]).bfloat16(), torch.tensor([1.0])) == pytest.approx(2.0)
    assert ulp_error(torch.tensor([float("nan")]).bfloat16(), torch.tensor([1.0])) == float("inf")
    assert ulp_error(torch.zeros(2).bfloat16(), torch.zeros(3)) == float("inf")


@pytest.mark.parametrize("variant", ["dora", "rank_and_alpha_pattern", "tied_lm_head_lora"])
def test_slabs_of_rows_measure_what_the_whole_layer_does(variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big Linear is merged by peft a slab of output rows at a time (DoRA's per-row norm included): within the bound,
    and a wrong row still caught."""
    from hubship.adapters.torch.verify import layer_check

    base, ckpt = VARIANTS[variant](tmp_path)
    merged = merge(base, ckpt, tmp_path / "merged", dtype="bf16")
    whole = _check(base, ckpt, merged, "bf16")["merge_error"]
    monkeypatch.setattr(layer_check, "SLAB_ELEMENTS", 100)  # a few rows per slab on the tiny model
    assert whole <= HALF_ULP and _check(base, ckpt, merged, "bf16")["merge_error"] <= HALF_ULP  # fp32 sums in another order
    _edit(merged, "model.layers.1.self_attn.v_proj.weight", lambda t, n: {**t, n: torch.cat([t[n][:-1], t[n][-1:] * 3])})
    assert _check(base, ckpt, merged, "bf16")["merge_error"] > 10, "the last slab's last row"
