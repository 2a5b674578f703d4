"""ExecutePlan through the container, with fake loader/merger and real local workspace and registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dependency_injector import providers

from hubship.application.format_registry import FormatRegistry
from hubship.application.formats.lora import LoraFormat
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.application.formats.reference_logits import ReferenceLogitsFormat
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from tests.fakes.checkpoint import FakeCheckpointReader, FakeModelLoader, FakeSaver
from tests.fakes.formats import FakeQuantFormat
from tests.fakes.merger import FakeMerger
from tests.fakes.progress import FakeProgress


@pytest.fixture
def fakes(container, tmp_path: Path):
    merger = FakeMerger()
    quant_a, quant_b = FakeQuantFormat("quant-a"), FakeQuantFormat("quant-b", metrics={"kl": 0.5})
    container.reader.override(providers.Object(FakeCheckpointReader()))
    container.loader.override(providers.Object(FakeModelLoader(tmp_path / "base")))
    container.merger.override(providers.Object(merger))
    container.saver.override(providers.Object(FakeSaver()))
    container.progress.override(providers.Object(FakeProgress()))
    container.formats.override(
        providers.Object(FormatRegistry([LoraFormat(), ReferenceLogitsFormat(), Merged16bitFormat(), quant_a, quant_b]))
    )
    return merger, quant_a, quant_b


def request(tmp_path: Path, formats: str, **options) -> PublishRequest:
    return PublishRequest(
        checkpoint=str(tmp_path / "run" / "checkpoint-10"),
        formats=(formats,),
        destinations=(f"dir:{tmp_path / 'out'}",),
        options={"verify": "off", **options},  # the fakes hold no model to measure
    )


def test_one_merge_feeds_every_format_and_a_rerun_rebuilds_nothing(container, fakes, tmp_path):
    merger, quant_a, _ = fakes
    result = container.execute_plan().execute(request(tmp_path, "quant-a,merged-16bit,lora"))
    assert merger.calls == 1
    assert {a.format for a in result.artifacts} == {"reference-logits", "lora", "merged-16bit", "quant-a"}
    assert sorted(p.name for p in (tmp_path / "out" / "run-sft").iterdir()) == ["lora", "merged-16bit", "quant-a"]

    again = container.execute_plan().execute(request(tmp_path, "quant-a,merged-16bit,lora"))
    assert merger.calls == 1 and quant_a.builds == 1
    assert all(a.reused for a in again.artifacts)
    assert again.published == () and len(again.skipped) == 3
    assert all(n.up_to_date for n in again.planned.plan.nodes)


def test_manifest_lists_every_file_and_the_lineage(container, fakes, tmp_path):
    container.execute_plan().execute(request(tmp_path, "quant-a"))
    folder = tmp_path / "out" / "run-sft" / "quant-a"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} == {"quant.bin", "README.md"}
    assert set(manifest["built_from"]) == {"merged-16bit"}
    assert set(manifest["inputs"]["checkpoint"]["files"]) == {"adapter_config.json", "adapter_model.safetensors"}
    assert "base_model_relation: quantized" in (folder / "README.md").read_text()


def test_quality_gate_blocks_publishing_unless_accepted(container, fakes, tmp_path):
    with pytest.raises(QualityGateFailed, match=r"quant-b: kl=0.5 > 0.1"):
        container.execute_plan().execute(request(tmp_path, "quant-b,lora"))
    assert not (tmp_path / "out").exists()

    container.execute_plan().execute(request(tmp_path, "quant-b,lora", accept_quality_loss=True))
    manifest = json.loads((tmp_path / "out" / "run-sft" / "quant-b" / "manifest.json").read_text())
    assert manifest["verification"]["metrics"] == {"kl": 0.5} and manifest["verification"]["passed"] is False
    assert "| kl | 0.5 |" in (tmp_path / "out" / "run-sft" / "quant-b" / "README.md").read_text()


def test_a_failed_build_leaves_no_partial_artifact(container, fakes, tmp_path):
    container.formats.override(
        providers.Object(FormatRegistry([ReferenceLogitsFormat(), Merged16bitFormat(), FakeQuantFormat("quant-a", fail=True)]))
    )
    with pytest.raises(RuntimeError, match="quantizer crashed"):
        container.execute_plan().execute(request(tmp_path, "quant-a"))
    workspace = tmp_path / "workspace"
    assert list((workspace / "tmp").iterdir()) == []
    assert len(list((workspace / "artifacts").iterdir())) == 2  # the finished (empty) reference and merge is kept for the re-run
    assert not (tmp_path / "out").exists()
