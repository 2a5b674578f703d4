"""The short read-back probe (docs/adr/023): merged-16bit's files read back on the probe's first
READBACK_PROBE_TOKENS tokens against base + adapter as peft runs them. Its values are checked tensor by tensor
(test_merge_check.py); this probe is there for what a per-tensor check cannot see, and each such mistake fails it:
a tensor under another name, a tied head tied again (or left tied), a config that runs the weights otherwise."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier
from hubship.application.formats.merged_16bit import THRESHOLDS
from hubship.domain.checkpoint import BaseRef
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.probe import READBACK_PROBE_TOKENS
from hubship.domain.quality import breaches
from tests.fakes.progress import FakeProgress
from tests.integration.test_streaming_merge import VARIANTS, merge
from tests.support.sharp_model import SHARPEN


@pytest.fixture(scope="module")
def merged(tmp_path_factory) -> tuple[Path, Path]:
    """A tied model whose adapter changes the head (the merge unties it) and the value projections, its logits and
    attention sharpened (random weights give near-uniform ones, on which any mistake is small): the merged files in
    bf16, and the short reference."""
    root = tmp_path_factory.mktemp("readback")
    base, ckpt = VARIANTS["tied_lm_head_lora"](root)
    weights = next(base.glob("*.safetensors"))
    tensors = load_file(weights)
    tensors["model.norm.weight"] = tensors["model.norm.weight"] * SHARPEN  # clear winners, as a trained model has
    for name in [k for k in tensors if k.endswith(("q_proj.weight", "k_proj.weight"))]:
        tensors[name] = tensors[name] * SHARPEN  # attention that depends on position, as a trained model's does
    save_file(tensors, str(weights), metadata={"format": "pt"})
    folder = merge(base, ckpt, root / "merged", dtype="bf16")
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    reference = root / "reference.safetensors"
    TorchLogitsVerifier().reference(checkpoint, info, reference, FakeProgress(), tokens=READBACK_PROBE_TOKENS)
    return folder, reference


def _gate(folder: Path, reference: Path) -> list[str]:
    figures = TorchLogitsVerifier().compare(folder, reference, FakeProgress(), tokens=READBACK_PROBE_TOKENS)
    return breaches({m: figures[m] for m in ("max_abs_diff", "mean_kl")}, THRESHOLDS["bf16"])


def _broken(
    merged: tuple[Path, Path], tmp_path: Path, tensors: Callable[[dict], dict] | None = None, config: Callable[[dict], dict] | None = None
) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(merged[0], folder)
    if tensors is not None:
        path = next(folder.glob("*.safetensors"))
        save_file(tensors(load_file(path)), str(path), metadata={"format": "pt"})
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config(json.loads((folder / "config.json").read_text()))))
    return folder


def test_the_probe_is_short_and_a_correct_merge_passes(merged: tuple[Path, Path]) -> None:
    folder, reference = merged
    assert len(load_file(reference)["input_ids"]) == READBACK_PROBE_TOKENS
    assert _gate(folder, reference) == []


def test_two_tensors_under_each_others_names_fail(merged: tuple[Path, Path], tmp_path: Path) -> None:
    def swap(t: dict) -> dict:
        q, o = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.o_proj.weight"
        return {**t, q: t[o], o: t[q]}

    assert _gate(_broken(merged, tmp_path, tensors=swap), merged[1])


def test_a_tensor_under_a_name_the_model_does_not_have_fails(merged: tuple[Path, Path], tmp_path: Path) -> None:
    def rename(t: dict) -> dict:
        name = "model.layers.1.mlp.down_proj.weight"
        return {**{k: v for k, v in t.items() if k != name}, "model.layers.1.mlp.down.weight": t[name]}

    with pytest.raises((UserInputError, PublishError), match=r"no weight named 'model\.layers\.1\.mlp\.down_proj\.weight'"):
        _gate(_broken(merged, tmp_path, tensors=rename), merged[1])


def test_a_head_tied_again_fails(merged: tuple[Path, Path], tmp_path: Path) -> None:
    """The merge wrote the head on its own (the adapter changed it); a config that still ties it runs the embedding."""
    assert _gate(_broken(merged, tmp_path, config=lambda c: {**c, "tie_word_embeddings": True}), merged[1])


@pytest.mark.parametrize(
    "change",
    [{"rope_parameters": {"rope_theta": 10.0, "rope_type": "default"}}, {"rms_norm_eps": 0.5}, {"hidden_act": "relu"}],
    ids=["rope_theta", "rms_norm_eps", "hidden_act"],
)
def test_a_config_that_runs_the_weights_otherwise_fails(change: dict, merged: tuple[Path, Path], tmp_path: Path) -> None:
    assert _gate(_broken(merged, tmp_path, config=lambda c: {**c, **change}), merged[1])


@pytest.mark.slow
def test_a_publish_records_both_checks_and_the_device(tiny_model: tuple[Path, Path], tmp_path: Path, cli) -> None:
    """merged-16bit alone: a 32-token reference, every tensor checked, the figures' device in the manifest; with a
    GGUF beside it the reference is the full probe, and merged-16bit still reads back its first 32 tokens."""
    _, ckpt = tiny_model
    common = [str(ckpt), "--workspace", str(tmp_path / "ws"), "--quiet"]
    done = cli("publish", *common, "-f", "merged-16bit", "--dtype", "bf16", "--to", f"dir:{tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr
    verification = json.loads(next((tmp_path / "out").rglob("manifest.json")).read_text())["verification"]
    assert verification["passed"] and verification["device"] == "cpu"
    assert verification["metrics"]["merge_error"] <= 0.51 and verification["thresholds"]["merge_error"] == {"max": 0.51}
    assert any(n.startswith("each of the ") and "checked against peft's own merge" in n for n in verification["notes"])
    references = [load_file(p)["input_ids"] for p in (tmp_path / "ws").rglob("reference.safetensors")]
    assert [len(r) for r in references] == [READBACK_PROBE_TOKENS]
    planned = cli("plan", *common, "-f", "merged-16bit,gguf-q8_0", "--json")
    assert planned.returncode == 0, planned.stderr
    assert '"tokens"' not in planned.stdout, "a GGUF in the plan: the full probe, under the key it always had"
