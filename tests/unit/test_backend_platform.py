"""The machine: backend selection (auto|hf|unsloth) and its wiring, and the plan's platform preflight."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from dependency_injector import providers

from hubship.application.backend_merger import BackendMerger
from hubship.application.format_registry import FormatRegistry
from hubship.application.formats.lora import LoraFormat
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.application.formats.reference_logits import ReferenceLogitsFormat
from hubship.application.publish_request import PublishRequest
from hubship.domain.backend import select_backend
from hubship.domain.errors import UserInputError
from hubship.domain.preflight import DiskDemand, check_disk
from hubship.domain.quantization import Quantization
from tests.fakes.checkpoint import FakeCheckpointReader, FakeModelLoader, FakeSaver
from tests.fakes.formats import FakeQuantFormat
from tests.fakes.merger import FakeMerger
from tests.fakes.progress import FakeProgress
from tests.fakes.system_probe import FakeSystemProbe

UNSLOTH = {"unsloth": "2025.9.1"}


LORA = {"full": False, "quantized_base": False, "dtype": "bf16"}


@pytest.mark.parametrize(
    ("requested", "gpu", "installed", "checkpoint", "chosen", "why"),
    [
        ("auto", True, UNSLOTH, LORA, "unsloth", "auto: an NVIDIA GPU and the unsloth package, and a LoRA on a 16-bit base"),
        ("auto", True, UNSLOTH, {**LORA, "dtype": "fp16"}, "unsloth", "auto: an NVIDIA GPU"),
        ("auto", True, UNSLOTH, {**LORA, "quantized_base": True}, "hf", "auto: Unsloth does not merge an adapter on a quantized base"),
        ("auto", True, UNSLOTH, {**LORA, "full": True}, "hf", "auto: Unsloth does not merge a full fine-tune"),
        ("auto", True, UNSLOTH, {**LORA, "dtype": "fp32"}, "hf", "auto: Unsloth does not merge into fp32"),
        ("auto", False, UNSLOTH, LORA, "hf", "auto: no NVIDIA GPU with the unsloth package here"),
        ("auto", True, {}, LORA, "hf", "auto: no NVIDIA GPU with the unsloth package here"),
        ("hf", True, UNSLOTH, LORA, "hf", "--backend hf"),
        ("unsloth", True, UNSLOTH, LORA, "unsloth", "--backend unsloth"),
        ("HF", False, {}, LORA, "hf", "--backend hf"),
    ],
)
def test_the_backend_is_chosen_per_checkpoint_on_a_machine_that_reports_a_gpu_or_not(requested, gpu, installed, checkpoint, chosen, why):
    choice = select_backend(requested, nvidia_gpu=gpu, installed=installed).choose(**checkpoint)
    assert choice.name == chosen and choice.reason.startswith(why)


@pytest.mark.parametrize("checkpoint", [{**LORA, "quantized_base": True}, {**LORA, "full": True}, {**LORA, "dtype": "fp32"}])
def test_explicit_unsloth_on_what_it_does_not_merge_is_refused_but_the_yardstick_still_merges(checkpoint):
    backends = select_backend("unsloth", nvidia_gpu=True, installed=UNSLOTH)
    refusal = r"^--backend unsloth does not merge .* the way hubship verifies it; use --backend auto or hf$"
    with pytest.raises(UserInputError, match=refusal):
        backends.choose(**checkpoint)
    assert backends.choose(**checkpoint, strict=False).name == "hf"
    assert backends.full_model().name == "hf" and backends.tool(backends.full_model()) == {"backend": "hf"}
    assert backends.tool(backends.choose(**LORA)) == {"backend": "unsloth 2025.9.1"}


class _Counting:
    def __init__(self) -> None:
        self.merged: list[str] = []

    def merge(self, checkpoint, base, out_dir, *, dtype, max_shard_bytes, progress) -> None:
        self.merged.append(checkpoint.root)


@pytest.mark.parametrize("requested", ["auto", "unsloth"])
def test_the_merger_routes_each_merge_as_the_plan_chose_and_never_makes_the_other(container, tmp_path, requested):
    made = {"hf": 0, "unsloth": 0}
    mergers = {"hf": _Counting(), "unsloth": _Counting()}

    def maker(name: str):
        def make():
            made[name] += 1
            return mergers[name]

        return make

    backends = select_backend(requested, nvidia_gpu=True, installed=UNSLOTH)
    merger = BackendMerger(backends, hf=maker("hf"), unsloth=maker("unsloth"))
    adapter = FakeCheckpointReader().read(tmp_path / "ckpt")
    base = FakeModelLoader(tmp_path / "base").base_info(adapter.base)
    merger.merge(adapter, base, tmp_path, dtype=None, max_shard_bytes=1, progress=FakeProgress())
    assert made == {"hf": 0, "unsloth": 1}
    whole = FakeCheckpointReader().read(tmp_path / "base")  # the base, as the yardstick reads it: a full model
    qlora_base = FakeModelLoader(tmp_path / "nf4", quantization=Quantization(bits=4, quant_type="nf4")).base_info(adapter.base)
    merger.merge(whole, base, tmp_path, dtype=None, max_shard_bytes=1, progress=FakeProgress())
    merger.merge(adapter, qlora_base, tmp_path, dtype=None, max_shard_bytes=1, progress=FakeProgress())
    merger.merge(adapter, base, tmp_path, dtype="fp32", max_shard_bytes=1, progress=FakeProgress())
    assert mergers["hf"].merged == [whole.root, adapter.root, adapter.root] and mergers["unsloth"].merged == [adapter.root]


@pytest.mark.parametrize(("driver", "cuda", "gpu"), [(False, True, False), (True, False, False), (True, True, True)])
def test_has_a_gpu_is_a_driver_and_a_cuda_device_torch_can_use(driver, cuda, gpu):
    from hubship.adapters.platform.system_probe import PlatformSystemProbe

    asked: list[str] = []

    def fact(name: str, value: bool):
        def ask() -> bool:
            asked.append(name)
            return value

        return ask

    probe = PlatformSystemProbe(driver=fact("driver", driver), cuda=fact("cuda", cuda))
    assert probe.has_nvidia_gpu() is gpu and probe.has_nvidia_gpu() is gpu
    assert asked == (["driver", "cuda"] if driver else ["driver"]), "torch is asked only where a driver is, and once"


def test_this_machine_has_no_gpu():
    from hubship.adapters.platform.system_probe import PlatformSystemProbe

    assert PlatformSystemProbe().has_nvidia_gpu() is False  # no NVIDIA driver on the machines the suite runs on


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


@pytest.mark.parametrize(("gpu", "expected"), [(True, (0, 1)), (False, (1, 0))])
def test_container_wires_the_routing_merger_over_both_backends(container, tmp_path, gpu, expected):
    hf, unsloth = _Counting(), _Counting()
    container.hf_merger.override(providers.Object(hf))
    container.unsloth_merger.override(providers.Object(unsloth))
    container.probe.override(providers.Object(FakeSystemProbe(gpu=gpu, versions=UNSLOTH)))
    assert container.services()["merger"] is container.merger()  # formats get the routing merger
    adapter = FakeCheckpointReader().read(tmp_path / "ckpt")
    base = FakeModelLoader(tmp_path / "base").base_info(adapter.base)
    container.merger().merge(adapter, base, tmp_path, dtype=None, max_shard_bytes=1, progress=FakeProgress())
    assert (len(hf.merged), len(unsloth.merged)) == expected


def test_unsloth_merger_is_built_without_importing_unsloth(container):
    container.config.backend.from_value("unsloth")
    container.probe.override(providers.Object(FakeSystemProbe(gpu=True, versions=UNSLOTH)))
    assert type(container.unsloth_merger()).__name__ == "UnslothMerger"
    assert "unsloth" not in sys.modules


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="unsloth is installed here")
def test_unsloth_merger_without_unsloth_fails_with_one_line(tmp_path):
    from hubship.adapters.unsloth.merger import UnslothMerger

    checkpoint = FakeCheckpointReader().read(tmp_path / "ckpt")
    base = FakeModelLoader(tmp_path / "base").base_info(checkpoint.base)
    with pytest.raises(UserInputError, match="does not merge into fp32 the way hubship verifies it"):
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
