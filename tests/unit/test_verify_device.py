"""Where the verification probe runs (issue 28 §2): on the GPU when the system probe reports one (the same answer
`--backend auto` gets), streaming one block at a time there as on the CPU. A GPU is faked only where none exists:
the probe port reports one, and, for the memory bound, a stand-in device whose tensors are CPU copies counted as
they live and die."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
import torch
from dependency_injector import providers

from hubship.adapters.torch import logits_verifier
from hubship.adapters.torch.checkpoint_reader import SafetensorsCheckpointReader
from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory
from hubship.adapters.torch.loader import HfTransformersLoader
from hubship.adapters.torch.logits_verifier import TorchLogitsVerifier
from hubship.adapters.torch.verify.streamed_weights import StreamedWeights
from hubship.domain.checkpoint import BaseRef
from tests.fakes.progress import FakeProgress
from tests.fakes.system_probe import FakeSystemProbe

HAS_CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("gpu", [True, False], ids=["gpu", "no-gpu"])
def test_the_probe_and_the_backend_read_one_answer_from_the_system_probe(gpu: bool, container) -> None:
    container.probe.override(providers.Object(FakeSystemProbe(gpu=gpu, versions={"unsloth": "2025.1"})))
    container.config.backend.from_value("auto")
    assert container.verifier().device.type == ("cuda" if gpu else "cpu")
    assert container.backend().choose(full=False, quantized_base=False, dtype="bf16").name == ("unsloth" if gpu else "hf")


class _StandIn:
    """What a GPU looks like to the loader: a device that is not the CPU."""

    type = "cuda"


class _OnStandIn(StreamedWeights):
    """StreamedWeights whose device copies are CPU clones: at each copy, what the device holds is summed (the
    model's parameters that are such copies, the spares kept for the next block, and the copy being made); the
    peak of that, and how many device tensors were made."""

    peak = made = 0

    def __init__(self, model: torch.nn.Module, *args, **kwargs) -> None:
        super().__init__(model, *args, **kwargs)
        self._device = _StandIn()  # type: ignore[assignment]
        self._model, self._copies = model, set()

    def _held(self) -> int:
        tensors = [p for p in (p for _, p in self._model.named_parameters(remove_duplicate=False)) if p.device.type != "meta"]
        tensors += [t for spares in self._spare.values() for t in spares]
        return sum({t.data_ptr(): t.numel() * 4 for t in tensors if t.data_ptr() in self._copies}.values())

    def _to_device(self, value: torch.Tensor, into: torch.Tensor | None = None) -> torch.Tensor:
        if into is not None and into.shape == value.shape:
            copy = into.copy_(value)
        else:
            copy = value.clone()
            type(self).made += 1
            self._copies.add(copy.data_ptr())
        type(self).peak = max(type(self).peak, self._held() + (0 if copy.data_ptr() in self._param_ptrs() else copy.numel() * 4))
        return copy

    def _param_ptrs(self) -> set[int]:
        return {p.data_ptr() for p in (p for _, p in self._model.named_parameters(remove_duplicate=False)) if p.device.type != "meta"}


@pytest.fixture(scope="module")
def deep_model(tmp_path_factory) -> tuple[Path, Path]:
    return HfDemoCheckpointFactory().create(tmp_path_factory.mktemp("device"), dtype="float32", hidden_size=128, layers=8)


def _reference(base: Path, ckpt: Path, out: Path, verifier: TorchLogitsVerifier) -> torch.Tensor:
    checkpoint = SafetensorsCheckpointReader().read(ckpt)
    info = HfTransformersLoader().base_info(BaseRef(path=str(base)))
    verifier.reference(checkpoint, info, out, FakeProgress(), tokens=32)
    from safetensors.torch import load_file

    return load_file(out)["logits"]


def test_on_a_device_the_blocks_stream_one_at_a_time(deep_model, tmp_path: Path, monkeypatch) -> None:
    """The device holds about two decoder layers at once (the one running and the one before, whose tensors the
    next reuses) and a slab of the head, whatever the depth; the logits are the CPU's."""
    base, ckpt = deep_model
    small = {"slab_elements": 4096, "big_leaf_bytes": 150_000}  # the embedding and head (164 kB) run slab by slab
    on_cpu = _reference(base, ckpt, tmp_path / "cpu.safetensors", TorchLogitsVerifier(**small))
    if HAS_CUDA:  # a real GPU: run there, and measure what CUDA holds
        torch.cuda.reset_peak_memory_stats()
        on_device = _reference(base, ckpt, tmp_path / "gpu.safetensors", TorchLogitsVerifier(**small, gpu=True))
        held = torch.cuda.max_memory_allocated()
    else:
        monkeypatch.setattr(logits_verifier, "StreamedWeights", _OnStandIn)
        on_device = _reference(base, ckpt, tmp_path / "standin.safetensors", TorchLogitsVerifier(**small))
        held = _OnStandIn.peak
        assert _OnStandIn.made > 0, "the device path ran"
    gc.collect()
    from safetensors import safe_open

    with safe_open(str(next(base.glob("*.safetensors"))), framework="pt") as f:
        sizes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118
    layer = sum(torch.Size(s).numel() * 4 for k, s in sizes.items() if k.startswith("model.layers.0."))
    model = sum(torch.Size(s).numel() * 4 for s in sizes.values())
    assert torch.allclose(on_device, on_cpu, atol=1e-5, rtol=1e-5)
    assert layer <= held <= 2.5 * layer + 4096 * 4, (held, layer, model)  # a layer running, the one before, a slab
    assert held < model / 3


def test_fp32_products_stay_fp32_on_the_gpu() -> None:
    """TF32 is off while the probe runs, and as it was after."""
    torch.backends.cuda.matmul.allow_tf32 = True
    with logits_verifier._exact_fp32():
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
