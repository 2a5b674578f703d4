"""The base yardstick through the container, with fakes: what `plan` says it may cost (and counts on disk where it fits), the ceiling
when the base's build is broken the same way as the artifact's, and who merges each model (the backend chosen per
checkpoint on a machine whose probe reports a GPU; the base's merge never through Unsloth)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from dependency_injector import providers

from hubship.application.format_registry import FormatRegistry
from hubship.application.formats.lora import LoraFormat
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.application.formats.reference_logits import ReferenceLogitsFormat
from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed, UserInputError
from hubship.domain.quantization import Quantization
from hubship.entrypoints.render import yardstick_line
from tests.fakes.checkpoint import FakeCheckpointReader, FakeModelLoader, FakeSaver
from tests.fakes.formats import FakeQuantFormat
from tests.fakes.merge_check import FakeMergeCheck
from tests.fakes.merger import FakeMerger
from tests.fakes.progress import FakeProgress
from tests.fakes.system_probe import FakeSystemProbe
from tests.fakes.verifier import FakeVerifier

UNSLOTH = {"unsloth": "2025.9.1"}
NF4 = Quantization(bits=4, quant_type="nf4")


@pytest.fixture
def machine(container, tmp_path: Path):
    """Wires fakes: `machine(kl=..., gpu=..., quantized=..., free=...)` -> (hf merger, unsloth merger, quant-x format).

    quant-x measures `kl` on every model it is built from (a quantizer broken the same way for the fine-tune and for
    the base); its default bound is mean_kl <= 0.1, so 0.3 and 0.6 both breach it and ask the base yardstick."""

    def make(kl: float = 0.3, gpu: bool = False, quantized: bool = False, free: int = 10**15, backend: str = "auto"):
        hf, unsloth = FakeMerger(), FakeMerger()
        quant = FakeQuantFormat("quant-x", metrics={"mean_kl": kl}, thresholds={"mean_kl": {"max": 0.1}})
        container.reader.override(providers.Object(FakeCheckpointReader()))
        container.loader.override(providers.Object(FakeModelLoader(tmp_path / "base", quantization=NF4 if quantized else None)))
        container.hf_merger.override(providers.Object(hf))
        container.unsloth_merger.override(providers.Object(unsloth))
        container.verifier.override(providers.Object(FakeVerifier()))
        container.merge_check.override(providers.Object(FakeMergeCheck()))
        container.saver.override(providers.Object(FakeSaver()))
        container.progress.override(providers.Object(FakeProgress()))
        container.probe.override(providers.Object(FakeSystemProbe({str(tmp_path): ("disk", free)}, gpu=gpu, versions=UNSLOTH)))
        container.formats.override(providers.Object(FormatRegistry([LoraFormat(), ReferenceLogitsFormat(), Merged16bitFormat(), quant])))
        container.config.backend.from_value(backend)
        return hf, unsloth, quant

    return make


def _request(tmp_path: Path, formats: str = "quant-x", checkpoint: str = "run/checkpoint-1", **options) -> PublishRequest:
    return PublishRequest(
        checkpoint=str(tmp_path / checkpoint), formats=(formats,), destinations=(f"dir:{tmp_path / 'out'}",), options=options
    )


def test_plan_shows_the_yardsticks_possible_cost_and_counts_it_on_disk(container, machine, tmp_path):
    machine()
    planned = container.plan_publish().execute(_request(tmp_path))
    cost = planned.yardstick_cost
    own = sum(n.estimate.size_bytes for n in planned.plan.to_build)
    assert cost.formats == ("quant-x",) and cost.steps == ("reference-logits", "merged-16bit", "quant-x")
    assert cost.size_bytes == own > 0, "the base has the fine-tune's shape: the same steps, the same sizes"
    assert planned.disk_needed_bytes == own + cost.size_bytes
    line = yardstick_line(planned)
    assert line is not None and line.startswith("if a default quality bound is breached, the base yardstick builds reference-logits,")
    assert "more disk (counted below) and about the time of those steps here" in line

    container.execute_plan().execute(_request(tmp_path))  # breaches (0.3 > 0.1): the base's quant-x is built
    again = container.plan_publish().execute(_request(tmp_path, checkpoint="run/checkpoint-2"))
    assert again.yardstick_cost.steps == () and again.yardstick_cost.size_bytes == 0, "the base's builds are in the workspace"
    assert "figures are in the workspace" in (yardstick_line(again) or "")


def test_a_yardstick_that_would_not_fit_is_dropped_and_the_publish_goes_on_under_the_absolute_bounds(container, machine, tmp_path):
    """An 8B publish on a 65 GB disk needs 46 GB; its yardstick (the base's same chain) 45 GB more, and only on a breach."""
    machine()
    own = sum(n.estimate.size_bytes for n in container.plan_publish().execute(_request(tmp_path)).plan.to_build)
    machine(free=own // 2)
    with pytest.raises(UserInputError, match="free space or pass --workspace on a bigger disk"):
        container.plan_publish().execute(_request(tmp_path))
    _, _, quant = machine(free=own + own // 2)  # room for the publish's own builds, not for the base's as well
    planned = container.plan_publish().execute(_request(tmp_path))
    assert planned.disk_needed_bytes == own and planned.yardstick.base is None
    line = yardstick_line(planned) or ""
    assert line.startswith("no base yardstick for quant-x (its steps need ") and "the absolute quality bounds decide alone" in line
    with pytest.raises(QualityGateFailed, match=r"quant-x: mean_kl=0.3 > 0.1"):
        container.execute_plan().execute(_request(tmp_path))
    assert quant.builds == 1, "the fine-tune's only: the base's would not fit"


def test_no_yardstick_cost_when_nothing_can_be_loosened(container, machine, tmp_path):
    machine()
    bounded = container.plan_publish().execute(_request(tmp_path, thresholds={"quant-x": {"mean_kl": 0.2}}))
    assert bounded.yardstick_cost.formats == () and yardstick_line(bounded) is None, "a user's bound is final: no yardstick"
    assert container.plan_publish().execute(_request(tmp_path, verify="off")).yardstick_cost.size_bytes == 0
    machine(quantized=True)
    qlora = container.plan_publish().execute(_request(tmp_path))
    assert qlora.yardstick_cost.size_bytes == 0 and "itself quantized" in (yardstick_line(qlora) or "")


def test_the_ceiling_fails_an_artifact_whose_base_build_is_broken_the_same_way(container, machine, tmp_path):
    _, _, quant = machine(kl=0.6)
    with pytest.raises(QualityGateFailed) as failed:
        container.execute_plan().execute(_request(tmp_path))
    message = failed.value.message
    assert "quant-x: mean_kl=0.6 > 0.5 (on the base model: mean_kl=0.6; past the yardstick's ceiling" in message
    assert "--threshold quant-x.mean_kl=0.6" in message and "--accept-quality-loss" in message
    assert quant.builds == 2, "the fine-tune's and the base's"
    assert not (tmp_path / "out").exists()


def test_a_loss_the_base_shares_within_the_ceiling_passes(container, machine, tmp_path):
    machine(kl=0.3)
    container.execute_plan().execute(_request(tmp_path))
    verification = json.loads(next((tmp_path / "out").rglob("quant-x/manifest.json")).read_text())["verification"]
    assert verification["passed"] and verification["thresholds"]["mean_kl"]["max"] == pytest.approx(0.3 * 1.5 + 0.01)
    assert verification["base"]["metrics"] == {"mean_kl": 0.3} and "ceiling" not in verification["base"]


def test_auto_on_a_gpu_merges_a_lora_with_unsloth_and_the_base_with_hf(container, machine, tmp_path):
    hf, unsloth, _ = machine(gpu=True)
    result = container.execute_plan().execute(_request(tmp_path))
    assert result.planned.backend is not None and result.planned.backend.name == "unsloth"
    assert unsloth.calls == 1, "the fine-tune's merge"
    assert hf.calls == 1, "the base yardstick's merge (a full model) never goes through Unsloth"
    keys = {n.format: n.spec.tools["backend"] for n in result.planned.plan.nodes if "backend" in n.spec.tools}
    assert keys == {"merged-16bit": "unsloth 2025.9.1"}


def test_explicit_unsloth_keeps_the_base_yardstick_on_hf(container, machine, tmp_path):
    hf, unsloth, _ = machine(gpu=True, backend="unsloth")
    container.execute_plan().execute(_request(tmp_path))
    assert (unsloth.calls, hf.calls) == (1, 1)


def test_auto_on_a_gpu_sends_a_qlora_adapter_to_hf_and_says_why(container, machine, tmp_path):
    hf, unsloth, _ = machine(gpu=True, quantized=True)
    result = container.execute_plan().execute(_request(tmp_path, formats="merged-16bit"))
    backend = result.planned.backend
    assert backend is not None and backend.name == "hf"
    assert backend.reason == "auto: Unsloth does not merge an adapter on a quantized base the way hubship verifies it"
    assert (hf.calls, unsloth.calls) == (1, 0)


def test_explicit_unsloth_on_a_qlora_adapter_stops_at_the_plan(container, machine, tmp_path):
    machine(gpu=True, quantized=True, backend="unsloth")
    with pytest.raises(UserInputError, match=r"--backend unsloth does not merge an adapter on a quantized base .*use --backend auto or hf"):
        container.plan_publish().execute(_request(tmp_path, formats="merged-16bit"))
    assert container.plan_publish().execute(_request(tmp_path, formats="lora")).backend is None, "nothing merged: no refusal"


def test_auto_on_a_gpu_sends_a_full_fine_tune_to_hf(container, machine, tmp_path):
    hf, unsloth, _ = machine(gpu=True)
    full = tmp_path / "full-run"
    full.mkdir()
    (full / "config.json").write_text("{}")  # FakeCheckpointReader reads a model folder as a full fine-tune
    result = container.execute_plan().execute(_request(tmp_path, formats="merged-16bit", checkpoint="full-run"))
    assert result.planned.checkpoint.is_full and result.planned.backend is not None
    assert result.planned.backend.reason == "auto: Unsloth does not merge a full fine-tune the way hubship verifies it"
    assert (hf.calls, unsloth.calls) == (1, 0)


def test_an_artifact_built_within_its_defaults_needs_no_yardstick(container, machine, tmp_path):
    machine(kl=0.05)
    assert container.plan_publish().execute(_request(tmp_path)).yardstick_cost.steps != (), "not built yet: a breach is possible"
    container.execute_plan().execute(_request(tmp_path))  # 0.05 <= 0.1: passes at the default, the yardstick is not asked
    again = container.plan_publish().execute(_request(tmp_path))
    assert again.yardstick_cost.formats == () and again.yardstick_cost.size_bytes == 0 and yardstick_line(again) is None


def test_a_full_fine_tune_whose_upstream_is_in_the_cache_gets_the_yardstick(container, machine, tmp_path):
    machine()
    full = tmp_path / "full-run"
    full.mkdir()
    (full / "config.json").write_text("{}")
    alone = container.plan_publish().execute(_request(tmp_path, checkpoint="full-run"))
    assert alone.yardstick.base is None and "upstream base is not named: pass --base" in (alone.yardstick_cost.unavailable or "")
    named = container.plan_publish().execute(_request(tmp_path, checkpoint="full-run", base_model_id="acme/upstream"))
    assert named.yardstick.base is not None and named.yardstick.name == "acme/upstream"  # the fake loader finds any id
    upstream = Path(named.yardstick.base.path) / "config.json"
    assert named.yardstick.hashes == {"config.json": hashlib.sha256(upstream.read_bytes()).hexdigest()}, "the upstream's files, hashed"
    assert named.yardstick_cost.steps == ("reference-logits", "merged-16bit", "quant-x")
    assert named.yardstick.tools["backend"] == "hf"
