"""Bad input to a merge: each case exits 2 with one line on stderr, before any merge starts, and writes nothing
under the destination."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.application.formats.merged_16bit import Merged16bitFormat, unmergeable_reason
from hubship.domain.errors import UserInputError


@pytest.fixture(scope="module")
def other_bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bases")
    wider, _ = HfDemoCheckpointFactory().create(root / "wider", dtype="float32", hidden_size=96)
    shallower, _ = HfDemoCheckpointFactory().create(root / "shallower", dtype="float32", layers=1)
    return {"wider": wider, "shallower": shallower}


def _publish(cli, checkpoint: Path, tmp_path: Path, *extra: str):
    dest = tmp_path / "published"
    result = cli("publish", str(checkpoint), "-f", "merged-16bit", "-w", str(tmp_path / "ws"), "--to", f"dir:{dest}", "--quiet", *extra)
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hubship: error: "), result.stderr
    assert not dest.exists(), "nothing may be written under the destination"
    assert not list((tmp_path / "ws").glob("artifacts/*/model*.safetensors")), "no merge may have started"
    return lines[0]


def test_adapter_trained_on_another_base(checkpoint_copy: Path, other_bases: dict[str, Path], tmp_path: Path, cli) -> None:
    line = _publish(cli, checkpoint_copy, tmp_path, "--base", str(other_bases["wider"]))
    assert "does not fit" in line and "--base" in line


def test_adapter_targets_modules_the_base_lacks(checkpoint_copy: Path, other_bases: dict[str, Path], tmp_path: Path, cli) -> None:
    line = _publish(cli, checkpoint_copy, tmp_path, "--base", str(other_bases["shallower"]))
    assert "model.layers.1" in line and "does not have" in line


def test_truncated_adapter(checkpoint_copy: Path, tmp_path: Path, cli) -> None:
    weights = checkpoint_copy / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert "truncated" in _publish(cli, checkpoint_copy, tmp_path)


def test_truncated_base_shard(tiny_model: tuple[Path, Path], checkpoint_copy: Path, tmp_path: Path, cli) -> None:
    base = tmp_path / "base"
    base.mkdir()
    for path in tiny_model[0].iterdir():
        data = path.read_bytes()
        (base / path.name).write_bytes(data[: len(data) - 1000] if path.suffix == ".safetensors" else data)
    line = _publish(cli, checkpoint_copy, tmp_path, "--base", str(base))
    assert "model.safetensors is truncated" in line


def test_corrupt_adapter_config(checkpoint_copy: Path, tmp_path: Path, cli) -> None:
    (checkpoint_copy / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8,')
    assert "adapter_config.json" in _publish(cli, checkpoint_copy, tmp_path)


def test_unmergeable_adapter_is_refused_at_plan_time(checkpoint_copy: Path, tmp_path: Path, cli) -> None:
    config = json.loads((checkpoint_copy / "adapter_config.json").read_text())
    (checkpoint_copy / "adapter_config.json").write_text(json.dumps({**config, "peft_type": "IA3"}))
    line = _publish(cli, checkpoint_copy, tmp_path)
    assert "a IA3 adapter cannot be merged" in line and "--format lora" in line


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ({"peft_type": "ADALORA"}, "a ADALORA adapter"),
        ({"peft_type": "PROMPT_TUNING"}, "a PROMPT_TUNING adapter"),
        ({"alora_invocation_tokens": [5, 6]}, "activated LoRA"),
        ({"trainable_token_indices": [3, 4]}, "trainable tokens"),
        ({"layer_replication": [[0, 2], [1, 2]]}, "layer_replication"),
        ({"init_lora_weights": "pissa_niter_4"}, "init_lora_weights=pissa_niter_4"),
    ],
)
def test_every_unmergeable_setting_has_one_clear_line(tiny_model: tuple[Path, Path], setting: dict, words: str) -> None:
    checkpoint = SafetensorsCheckpointReader().read(tiny_model[1])
    checkpoint = attrs.evolve(checkpoint, adapter_config={**checkpoint.adapter_config, **setting})
    with pytest.raises(UserInputError) as refused:
        Merged16bitFormat().check(checkpoint, HfTransformersLoader().base_info(checkpoint.base), {})
    assert words in refused.value.message and "\n" not in refused.value.message and refused.value.message.endswith("--format lora")


def test_plain_and_dora_lora_are_mergeable(tiny_model: tuple[Path, Path]) -> None:
    checkpoint = SafetensorsCheckpointReader().read(tiny_model[1])
    for extra in ({}, {"use_dora": True, "use_rslora": True, "init_lora_weights": "gaussian"}):
        assert unmergeable_reason({**checkpoint.adapter_config, **extra}) is None
