"""The two-step default quality gate on a real tiny model that nf4 really hurts (tests/support/lossy_model.py):
past the absolute default, an artifact passes when it loses about what the same format loses on the base, and
fails when it loses clearly more (a broken merge); the base is measured once per base, format and settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dependency_injector import providers

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from hubship.domain.yardstick import FACTOR, LOSSY_CEILING, SLACK_SHARE
from tests.fakes.merger import ScaledDeltaMerger
from tests.fakes.quantizer import BrokenQuantizer, CountingQuantizer
from tests.support.lossy_model import lossy_copy, scale_delta


@pytest.fixture(scope="module")
def lossy(tiny_model: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(base, fine-tune A, fine-tune B): two fine-tunes of the same lossy base (B's delta 1.2 x A's)."""
    root = tmp_path_factory.mktemp("lossy")
    base, first = lossy_copy(tiny_model, root)
    second = root / "second-finetune"
    second.mkdir()
    for path in first.iterdir():
        (second / path.name).write_bytes(path.read_bytes())
    scale_delta(second, 1.2)
    return base, first, second


NOISE = 1.0  # x each projection's spread: both nf4 builds lose past 5x the 0.1 default, alike


def _publish(container, checkpoint: Path, dest: Path, **options):
    request = PublishRequest(checkpoint=str(checkpoint), formats=("merged-4bit",), destinations=(f"dir:{dest}",), options=options)
    return container.execute_plan().execute(request)


def _manifest(dest: Path) -> dict:
    return json.loads(next(dest.rglob("merged-4bit/manifest.json")).read_text())


@pytest.mark.slow
def test_nf4_past_the_default_passes_beside_the_base_measured_once(container, lossy, tmp_path: Path) -> None:
    _, first, second = lossy
    quantizer = CountingQuantizer()
    container.quantizer.override(providers.Object(quantizer))

    _publish(container, first, tmp_path / "a")
    verification = _manifest(tmp_path / "a")["verification"]
    kl, base_kl = verification["metrics"]["mean_kl"], verification["base"]["metrics"]["mean_kl"]
    assert kl > 0.1 and base_kl > 0.1, "nf4 breaks the absolute default on this model, on the fine-tune and on the base"
    assert verification["passed"] and verification["breaches"] == []
    assert verification["base"]["defaults"] == {"mean_kl": {"max": 0.1}}
    assert verification["thresholds"]["mean_kl"]["max"] == pytest.approx(base_kl * FACTOR + SLACK_SHARE * 0.1)
    assert set(verification["base"]["metrics"]) >= {"mean_kl", "top1_agreement", "top1_near"}
    card = next((tmp_path / "a").rglob("merged-4bit/README.md")).read_text()
    assert "merged-4bit loses as much here as it does on the base model" in card and "| on the base |" in card
    assert len(quantizer.calls) == 2, "the fine-tune's nf4 and the base's"

    _publish(container, second, tmp_path / "b")
    again = _manifest(tmp_path / "b")["verification"]
    assert again["passed"] and again["metrics"]["mean_kl"] > 0.1 and again["metrics"]["mean_kl"] != kl
    assert again["base"] == verification["base"], "the second fine-tune of the same base reads the base's figures"
    assert len(quantizer.calls) == 3, "the base was quantized and measured once for both fine-tunes"

    with pytest.raises(QualityGateFailed, match=r"merged-4bit: mean_kl=[0-9.]+ > 0\.1"):  # a bound the user sets is final
        _publish(container, first, tmp_path / "c", thresholds={"merged-4bit": {"mean_kl": 0.1}})
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_a_broken_merge_still_fails_at_the_defaults(container, lossy, tmp_path: Path) -> None:
    _, first, _ = lossy
    (tmp_path / "scratch").mkdir()
    container.hf_merger.override(providers.Object(ScaledDeltaMerger(2.0, tmp_path / "scratch")))  # the LoRA scaling applied twice
    with pytest.raises(QualityGateFailed) as failed:
        _publish(container, first, tmp_path / "out")
    message = failed.value.message
    assert message.startswith("quality gate failed, nothing was published (merged-4bit: mean_kl=")
    assert "(on the base model: mean_kl=" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_quantizer_broken_for_the_base_too_fails_past_the_ceiling(container, lossy, tmp_path: Path) -> None:
    """A bug in the quantizer raises the base's loss as much as the artifact's: the yardstick would follow it, and
    the ceiling (5x merged-4bit's default) is what stops the publish."""
    _, first, _ = lossy
    (tmp_path / "scratch").mkdir()
    quantizer = BrokenQuantizer(tmp_path / "scratch", noise=NOISE)
    container.quantizer.override(providers.Object(quantizer))
    with pytest.raises(QualityGateFailed) as failed:
        _publish(container, first, tmp_path / "out")
    message = failed.value.message
    assert "past the yardstick's ceiling" in message and "--threshold merged-4bit.mean_kl=" in message
    assert message.endswith("or pass --accept-quality-loss to publish anyway") and not (tmp_path / "out").exists()
    assert len(quantizer.calls) == 2, "the fine-tune's nf4 and the base's, both broken"

    _publish(container, first, tmp_path / "kept", accept_quality_loss=True)  # the record of what the gate saw
    verification = _manifest(tmp_path / "kept")["verification"]
    kl, base_kl = verification["metrics"]["mean_kl"], verification["base"]["metrics"]["mean_kl"]
    assert kl <= base_kl * FACTOR + SLACK_SHARE * 0.1, "the base, broken the same way, loses as much: it alone would pass it"
    assert kl > LOSSY_CEILING * 0.1 and verification["thresholds"]["mean_kl"] == {"max": pytest.approx(LOSSY_CEILING * 0.1)}
    assert verification["base"]["ceiling"] == {"factor": LOSSY_CEILING, "metrics": ["mean_kl"]} and not verification["passed"]


@pytest.mark.slow
def test_a_full_fine_tune_is_held_against_its_upstream_base_on_disk(container, lossy, tmp_path: Path) -> None:
    """A full fine-tune (here the lossy fine-tune, merged and saved whole) breaches nf4's default as the adapter does;
    with its upstream base on disk (`--base`) the yardstick measures that base, as it does an adapter's."""
    base, first, _ = lossy
    container.execute_plan().execute(
        PublishRequest(checkpoint=str(first), formats=("merged-16bit",), destinations=(f"dir:{tmp_path / 'merged'}",))
    )
    full = next((tmp_path / "merged").rglob("merged-16bit"))
    with pytest.raises(QualityGateFailed, match=r"\(no base yardstick: a full fine-tune whose upstream base"):
        _publish(container, full, tmp_path / "alone")

    request = PublishRequest(checkpoint=str(full), base=str(base), formats=("merged-4bit",), destinations=(f"dir:{tmp_path / 'beside'}",))
    planned = container.plan_publish().execute(request)
    assert planned.checkpoint.is_full and planned.yardstick.base is not None and planned.yardstick.base.path == str(base)
    container.execute_plan().execute(request)
    verification = _manifest(tmp_path / "beside")["verification"]
    assert verification["passed"] and verification["metrics"]["mean_kl"] > 0.1
    assert verification["base"]["model"] == base.name and verification["base"]["metrics"]["mean_kl"] > 0.1
