"""The machine: backend selection (auto|hf|unsloth) and its wiring, and the plan's platform preflight."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from dependency_injector import providers

from hubship.application.format_registry import FormatRegistry
from hubship.application.formats.lora import LoraFormat
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.application.formats.reference_logits import ReferenceLogitsFormat
from hubship.application.publish_request import PublishRequest
from hubship.domain.backend import select_backend
from hubship.domain.errors import UserInputError
from hubship.domain.preflight import DiskDemand, check_disk
from tests.fakes.checkpoint import FakeCheckpointReader, FakeModelLoader, FakeSaver
from tests.fakes.formats import FakeQuantFormat
from tests.fakes.merger import FakeMerger
from tests.fakes.progress import FakeProgress
from tests.fakes.system_probe import FakeSystemProbe

UNSLOTH = {"unsloth": "2025.9.1"}


@pytest.mark.parametrize(
    ("requested", "gpu", "installed", "chosen"),
    [
        ("auto", True, UNSLOTH, "unsloth"),
        ("auto", False, UNSLOTH, "hf"),
        ("auto", True, {}, "hf"),
        ("hf", True, UNSLOTH, "hf"),
        ("unsloth", True, UNSLOTH, "unsloth"),
        ("HF", False, {}, "hf"),
    ],
)
def test_backend_selection(requested, gpu, installed, chosen):
    assert select_backend(requested, nvidia_gpu=gpu, installed=installed) == chosen


@pytest.mark.parametrize(
    ("gpu", "installed", "says"),
    [(False, UNSLOTH, "an NVIDIA GPU,"), (True, {}, "the unsloth package"), (False, {}, "an NVIDIA GPU and the unsloth package")],
)
def test_unsloth_that_cannot_run_is_one_line_naming_what_is_missing(gpu, installed, says):
    with pytest.raises(UserInputError) as err:
        select_backend("unsloth", nvidia_gpu=gpu, installed=installed)
    assert says in err.value.message and "--backend hf" in err.value.message and "\n" not in err.value.message


def test_unknown_backend_is_refused():
    with pytest.raises(UserInputError, match="use --backend auto, hf or unsloth"):
        select_backend("tpu", nvidia_gpu=True, installed=UNSLOTH)


@pytest.mark.parametrize(("gpu", "installed", "expected"), [(True, UNSLOTH, "unsloth_merger"), (False, UNSLOTH, "hf_merger")])
def test_container_wires_the_merger_of_the_selected_backend(container, gpu, installed, expected):
    hf_merger, unsloth_merger = object(), object()
    container.hf_merger.override(providers.Object(hf_merger))
    container.unsloth_merger.override(providers.Object(unsloth_merger))
    container.probe.override(providers.Object(FakeSystemProbe(gpu=gpu, versions=installed)))
    assert container.merger() is {"hf_merger": hf_merger, "unsloth_merger": unsloth_merger}[expected]
    assert container.services()["merger"] is container.merger()  # formats get the selected merger


def test_unsloth_merger_is_built_without_importing_unsloth(container):
    container.config.backend.from_value("unsloth")
    container.probe.override(providers.Object(FakeSystemProbe(gpu=True, versions=UNSLOTH)))
    assert type(container.merger()).__name__ == "UnslothMerger"
    assert "unsloth" not in sys.modules


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="unsloth is installed here")
def test_unsloth_merger_without_unsloth_fails_with_one_line(tmp_path):
    from hubship.adapters.unsloth.merger import UnslothMerger

    checkpoint = FakeCheckpointReader().read(tmp_path / "ckpt")
    base = FakeModelLoader(tmp_path / "base").base_info(checkpoint.base)
    with pytest.raises(UserInputError, match="16-bit merges, not fp32"):
        UnslothMerger().merge(checkpoint, base, tmp_path / "out", dtype="fp32", max_shard_bytes=10**9, progress=FakeProgress())
    with pytest.raises(UserInputError, match=r"the unsloth backend cannot start .*--backend hf"):
        UnslothMerger().merge(checkpoint, base, tmp_path / "out", dtype="bf16", max_shard_bytes=10**9, progress=FakeProgress())


def test_demands_on_one_disk_add_up():
    one = DiskDemand(place="the workspace /w", volume="a", free_bytes=10, needed_bytes=6, fix="free space")
    other = DiskDemand(place="destination dir:/d", volume="b", free_bytes=10, needed_bytes=6, fix="publish elsewhere")
    check_disk([one, other])
    with pytest.raises(UserInputError, match=r"in the workspace /w and destination dir:/x \(one disk\)"):
        check_disk([one, DiskDemand(place="destination dir:/x", volume="a", free_bytes=10, needed_bytes=6, fix="-")])


@pytest.fixture
def planner(container, tmp_path: Path):
    def make(probe: FakeSystemProbe):
        container.reader.override(providers.Object(FakeCheckpointReader()))
        container.loader.override(providers.Object(FakeModelLoader(tmp_path / "base")))
        container.progress.override(providers.Object(FakeProgress()))
        container.formats.override(providers.Object(FormatRegistry([LoraFormat()])))
        container.probe.override(providers.Object(probe))
        return container.plan_publish()

    return make


def _request(tmp_path: Path, to: Path) -> PublishRequest:
    return PublishRequest(checkpoint=str(tmp_path / "run" / "checkpoint-1"), formats=("lora",), destinations=(f"dir:{to}",))


def test_preflight_refuses_a_destination_disk_that_is_too_small(planner, tmp_path):
    probe = FakeSystemProbe({str(tmp_path): ("ssd", 10**12), str(tmp_path / "usb"): ("usb", 5)})
    with pytest.raises(UserInputError, match=r"in destination dir:.*usb/out but only 0.0 GB are free; free space there"):
        planner(probe).execute(_request(tmp_path, tmp_path / "usb" / "out"))


def test_a_destination_on_the_workspace_disk_costs_nothing_as_files_are_hard_linked(planner, tmp_path):
    lora_estimate = 7 + 2  # the adapter's 7 bytes and the files beside it: the fake base's config.json, "{}"
    probe = FakeSystemProbe({str(tmp_path): ("ssd", lora_estimate + 1000)})
    planned = planner(probe).execute(_request(tmp_path, tmp_path / "out"))
    assert planned.disk_needed_bytes == lora_estimate


@pytest.mark.parametrize("long_paths", [False, True])
def test_preflight_on_windows_refuses_paths_past_260_characters_unless_long_paths_are_on(planner, tmp_path, long_paths):
    deep = tmp_path / ("d" * 120) / ("e" * 100)
    make = planner(FakeSystemProbe(os_name="windows", long_paths=long_paths))
    if long_paths:
        make.execute(_request(tmp_path, deep))
    else:
        with pytest.raises(UserInputError, match=r"too deep for Windows.*LongPathsEnabled"):
            make.execute(_request(tmp_path, deep))


def test_the_backend_is_in_the_merge_key_and_its_manifest_so_two_backends_never_share_an_artifact(container, tmp_path):
    """One checkpoint published with --backend hf, then unsloth: two merges in the workspace, each manifest naming its backend."""
    merger = FakeMerger()
    container.reader.override(providers.Object(FakeCheckpointReader()))
    container.loader.override(providers.Object(FakeModelLoader(tmp_path / "base")))
    container.merger.override(providers.Object(merger))
    container.saver.override(providers.Object(FakeSaver()))
    container.progress.override(providers.Object(FakeProgress()))
    container.probe.override(providers.Object(FakeSystemProbe(gpu=True, versions=UNSLOTH)))
    registry = [LoraFormat(), ReferenceLogitsFormat(), Merged16bitFormat(), FakeQuantFormat("quant-a")]
    container.formats.override(providers.Object(FormatRegistry(registry)))
    results = {}
    for backend in ("hf", "unsloth"):
        container.config.backend.from_value(backend)
        container.backend.reset()  # one command, one backend: a new command selects again
        request = PublishRequest(
            checkpoint=str(tmp_path / "run" / "checkpoint-1"),
            formats=("merged-16bit,quant-a,lora",),
            destinations=(f"dir:{tmp_path / backend}",),
            options={"verify": "off"},
        )
        results[backend] = container.execute_plan().execute(request)
    keys = {b: {n.format: n.spec.key for n in r.planned.plan.nodes} for b, r in results.items()}
    assert keys["hf"]["merged-16bit"] != keys["unsloth"]["merged-16bit"] and keys["hf"]["quant-a"] != keys["unsloth"]["quant-a"]
    assert keys["hf"]["lora"] == keys["unsloth"]["lora"]  # nothing merged: the backend plays no part
    assert merger.calls == 2, "the unsloth publish reused the hf merge"
    for backend, expected in (("hf", "hf"), ("unsloth", "unsloth 2025.9.1")):
        manifest = json.loads((tmp_path / backend / "run-sft" / "merged-16bit" / "manifest.json").read_text())
        assert manifest["tools"]["backend"] == expected
