"""Verifier with torch: reference logits from base + adapter (peft, unmerged) and a built model's logits, block by block.

Memory stays bounded whatever the model's size: the model is built on the meta device, and the
weights of one block (a decoder layer, the embeddings, the head) are read from the safetensors
files (the base's and the adapter's) just before the block runs and dropped right after; a big
embedding or output head runs slab by slab. The probe passes once, so every weight is read once:
as fast as loading the model, with a peak of about one layer in fp32 plus the logits. Everything
runs in fp32, so a comparison measures the artifact, not the arithmetic. A bitsandbytes 4-bit
artifact is loaded whole (it is a quarter of the 16-bit size).

The reference is what was trained: a QLoRA adapter runs on its quantized base's weights as bitsandbytes
dequantizes them (one tensor at a time, in fp32); a full fine-tune is its own reference (its logits in fp32).

The parts live in `hubship.adapters.torch.verify`: probe, streamed_weights, peft_reference, metrics and
memory. Design: docs/adr/004.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import AutoConfig, AutoTokenizer

from hubship.adapters.torch.meta_model import aliases, blocks, model_class, skeleton
from hubship.adapters.torch.model_files import ADAPTER_PREFIX, file_keys, weight_files
from hubship.adapters.torch.verify import vision_tower
from hubship.adapters.torch.verify.memory import release_freed_memory
from hubship.adapters.torch.verify.metrics import StoredRows, kl_metrics
from hubship.adapters.torch.verify.peft_reference import adapter_vocab, peft_model
from hubship.adapters.torch.verify.probe import MAX_PROBE_TOKENS, probe_ids
from hubship.adapters.torch.verify.streamed_weights import BIG_LEAF_BYTES, SLAB_ELEMENTS, StreamedWeights
from hubship.adapters.torch.weight_layout import WeightLayout
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.ports.progress import Progress


def _weight_paths(model_dir: Path) -> list[Path]:
    return [model_dir / name for name in weight_files(model_dir)]


@contextlib.contextmanager
def _exact_fp32() -> Iterator[None]:
    """fp32 products in full fp32 on a GPU: TF32 (10-bit mantissas) off for matmul and cuDNN, restored after."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def _forward(model: nn.Module, ids: torch.Tensor, threads: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The model's logits on the probe, in fp32 on the CPU, computed on `device`."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, threads)))
    try:
        with torch.inference_mode(), _exact_fp32():
            return model(input_ids=ids[None].to(device), use_cache=False).logits[0].to("cpu", torch.float32)
    finally:
        torch.set_num_threads(before)


def _upcast(model: nn.Module) -> nn.Module:
    """Every floating-point weight bitsandbytes left in 16 bits, in fp32 as the rest: it quantizes Linear layers only,
    and loads 3D parameters (gpt-oss's fused experts) in their stored dtype whatever `dtype` asks, so a bf16 expert
    would meet fp32 activations ("self and mat2 must have the same dtype")."""
    for param in model.parameters():
        if param.dtype in (torch.bfloat16, torch.float16):
            param.data = param.data.to(torch.float32)
    return model


CPU_PACK_ROWS = 32  # bitsandbytes' CPU 4-bit kernel (AVX512-BF16) repacks a weight in blocks of 32 output features


def _unpackable_on_cpu(model: nn.Module) -> nn.Module:
    """bitsandbytes' CPU forward (on a CPU with AVX512-BF16) repacks each 4-bit weight for its fused kernel, which
    needs the output features in multiples of 32 and the input features in whole quantization blocks; it asserts
    otherwise ("N must be divisible by block_n", "shape '[64, 0]' is invalid"), as on Qwen3.5's per-head `in_proj_a`
    (16 or 48 value heads) or a narrow MLA projection. Those layers run bitsandbytes' generic CPU path instead:
    the same 4-bit codes and scales, dequantized and multiplied in the compute dtype."""
    for module in model.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is None or not hasattr(module, "support_avx512bf16_for_cpu"):
            continue
        rows, cols = (int(n) for n in state.shape[:2])
        if rows % CPU_PACK_ROWS or cols % int(state.blocksize):
            module.support_avx512bf16_for_cpu = False
    return model


def device_name(device: torch.device) -> str:
    """What the manifest says the figures were computed on: `cpu`, or `cuda (NVIDIA H100 80GB HBM3)`."""
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else device.type


@contextlib.contextmanager
def _translated(what: str, error: type[UserInputError | PublishError] = UserInputError) -> Iterator[None]:
    """A library's exception as `error`: UserInputError while running what the user gave (the checkpoint, the
    base), PublishError while running what hubship built (a tool's failure, exit 1)."""
    try:
        yield
    except (UserInputError, PublishError):
        raise
    except (RuntimeError, ValueError, KeyError, OSError, SafetensorError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{what} failed: {first}") from None


class TorchLogitsVerifier:
    """`slab_elements` and `big_leaf_bytes` set how much of a weight is converted at once and from what size a
    Linear/Embedding is run slab by slab; the defaults suit real models (tests make them small). `threads` tells how
    many cores other processes leave free just before a probe runs (the container passes llama_cpp.threads'
    sampler of the CPU's idle time; by default, torch's own thread count). `gpu`: whether the machine has an NVIDIA
    GPU, as the system probe says (SystemProbe.has_nvidia_gpu, the one definition `--backend auto` uses too): the
    probe's blocks then run there, one block at a time as on the CPU, in fp32 with TF32 off."""

    def __init__(
        self,
        slab_elements: int = SLAB_ELEMENTS,
        big_leaf_bytes: int = BIG_LEAF_BYTES,
        threads: Callable[[], int] = torch.get_num_threads,
        gpu: bool = False,
    ) -> None:
        self._slab = slab_elements
        self._big_leaf = big_leaf_bytes
        self._threads = threads
        self.device = torch.device("cuda" if gpu else "cpu")

    def _tokenizer(self, checkpoint: Checkpoint, base: BaseInfo) -> Any:
        source = checkpoint.root if checkpoint.tokenizer_files else base.path
        with _translated(f"loading the tokenizer from {source}"):
            return AutoTokenizer.from_pretrained(source)

    def reference(self, checkpoint: Checkpoint, base: BaseInfo, out_file: Path, progress: Progress, tokens: int = MAX_PROBE_TOKENS) -> None:
        base_dir = Path(base.path)
        bits = base.quantization.bits if base.quantization else None
        what = f"running base model {checkpoint.base.display} with the adapter"
        what = f"running the model in {checkpoint.root}" if checkpoint.is_full else what
        with _translated(what):
            config = AutoConfig.from_pretrained(base_dir)
            limit = min(tokens, int(getattr(config, "max_position_embeddings", None) or tokens))
            ids = probe_ids(self._tokenizer(checkpoint, base), checkpoint.chat_template, limit)
            model = base_model = skeleton(base_dir)
            vision: dict[str, str] = {}
            names = aliases(base_model)
            files = _weight_paths(base_dir)
            layout = WeightLayout(base_model, file_keys(files))
            if checkpoint.is_full:  # the checkpoint's own weights: no adapter
                logits = self._run(model, files, names, "", ids, progress, "reference logits", bits=bits, layout=layout)
            else:
                vocab = adapter_vocab(checkpoint, base_model)
                if vocab:
                    base_model = skeleton(base_dir, vocab)
                model, adapter_keys = peft_model(base_model, checkpoint)
                adapter = (Path(checkpoint.root) / str(checkpoint.adapter_weights), adapter_keys)
                logits = self._run(model, files, names, ADAPTER_PREFIX, ids, progress, "reference logits", adapter, bits, layout)
                vision = vision_tower.record(base_model, model, base_dir)
            del model, base_model
        release_freed_memory(collect=True)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        save_file({"input_ids": ids.contiguous(), "logits": logits.contiguous()}, str(out_file), metadata=vision or None)

    def _run(
        self,
        model: nn.Module,
        files: list[Path],
        names: dict[str, list[str]],
        prefix: str,
        ids: torch.Tensor,
        progress: Progress,
        what: str,
        adapter: tuple[Path, dict[str, str]] | None = None,
        bits: int | None = None,
        layout: WeightLayout | None = None,
    ) -> torch.Tensor:
        with progress.task(what, total=len(blocks(model)), unit="blocks") as task:
            settings = {"slab": self._slab, "big_leaf_bytes": self._big_leaf, "bits": bits, "layout": layout, "device": self.device}
            hooks = StreamedWeights(model, files, names, prefix, task, adapter=adapter, **settings)
            try:
                return _forward(model, ids, self._threads(), self.device)
            finally:
                hooks.remove()

    def compare(self, model_dir: Path, reference_file: Path, progress: Progress, tokens: int | None = None) -> dict[str, float]:
        with safe_open(str(reference_file), framework="pt") as f:
            # the probe's first tokens: their logits do not depend on the later ones
            ids, vision = f.get_tensor("input_ids")[:tokens], f.metadata() or {}
        with _translated(f"running the built model in {model_dir}", PublishError):
            config = json.loads((model_dir / "config.json").read_text())
            if config.get("quantization_config"):
                with progress.task("artifact logits (quantized)", total=1, unit="models") as task:
                    auto = model_class(AutoConfig.from_pretrained(model_dir))
                    model = _upcast(auto.from_pretrained(model_dir, device_map=self.device.type, dtype=torch.float32).eval())
                    model = _unpackable_on_cpu(model)
                    logits = _forward(model, ids, self._threads(), self.device)
                    task.advance()
            else:
                model = skeleton(model_dir)
                files = _weight_paths(model_dir)
                layout = WeightLayout(model, file_keys(files))
                logits = self._run(model, files, aliases(model), "", ids, progress, "artifact logits", layout=layout)
            del model
            towers = {} if config.get("quantization_config") else vision_tower.check(model_dir, vision)
        release_freed_memory(collect=True)
        return {**kl_metrics(logits, StoredRows(reference_file, "logits", len(ids))), **towers, "device": device_name(self.device)}
