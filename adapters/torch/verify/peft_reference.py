"""The reference model: the base's meta skeleton wrapped by peft exactly as it runs the adapter unmerged in training,
with no adapter weight loaded up front (they stream block by block like the base's)."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn

from hubship.adapters.torch.meta_model import embedding_modules
from hubship.adapters.torch.model_files import ADAPTER_PREFIX
from hubship.domain.checkpoint import Checkpoint
from hubship.domain.errors import PublishError

_SAVED_MODULE = re.compile(r"\.(base_layer|modules_to_save(\.[^.]+)?)(?=\.weight$)")


@contextlib.contextmanager
def _adapter_kept_where_loaded() -> Iterator[None]:
    """peft moves a loaded adapter to its base layer's device; with the base on meta that would drop the adapter's
    values. Layers that move it their own way (ParamWrapper, the LoRA on fused MoE experts) are held too."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    def own(cls: type) -> list[type]:
        found = [cls] if "_move_adapter_to_device_of_base_layer" in vars(cls) else []
        return found + [c for sub in cls.__subclasses__() for c in own(sub)]

    held = {cls: vars(cls)["_move_adapter_to_device_of_base_layer"] for cls in own(BaseTunerLayer)}
    for cls in held:
        cls._move_adapter_to_device_of_base_layer = lambda self, *args, **kwargs: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for cls, original in held.items():
            cls._move_adapter_to_device_of_base_layer = original  # type: ignore[attr-defined]


@contextlib.contextmanager
def _without_bitsandbytes() -> Iterator[None]:
    """peft, imported and run as if bitsandbytes were absent, unless something already imported it: bitsandbytes'
    import compiles its ops with torch.compile (seconds, the largest part of peft's import), and peft imports it
    when it wraps a model (its quantized-layer dispatchers), though the reference runs peft's LoRA on a meta
    skeleton of plain Linear layers (a quantized base is dequantized by bnb_weights, which imports bitsandbytes
    itself). peft's availability checks are cleared on the way out, so later callers see the truth."""
    if "bitsandbytes" in sys.modules:
        yield
        return
    sys.modules["bitsandbytes"] = None  # type: ignore[assignment]  # an import of it now fails: peft takes it as absent
    try:
        import peft.import_utils

        _clear_bnb_checks(peft.import_utils)
        yield
    finally:
        if sys.modules.get("bitsandbytes", 0) is None:
            del sys.modules["bitsandbytes"]
        if "peft.import_utils" in sys.modules:
            _clear_bnb_checks(sys.modules["peft.import_utils"])


def _clear_bnb_checks(import_utils: Any) -> None:
    for check in (import_utils.is_bnb_available, import_utils.is_bnb_4bit_available):
        check.cache_clear()


def peft_model(skeleton: nn.Module, checkpoint: Checkpoint) -> tuple[nn.Module, dict[str, str]]:
    """The base skeleton wrapped by peft as it runs the adapter unmerged, every weight still on meta, and where each
    adapter weight lies in the adapter file.

    peft itself maps the file's keys to its parameters: it is handed stand-ins (the right shape, one element of
    storage each) instead of the values, and each parameter is then matched to the stand-in it received. So no
    adapter weight is loaded up front; they are read block by block like the base's (an adapter can be large:
    full embeddings for added tokens, modules_to_save). An adapter whose tensors peft converts as it loads them
    (per-expert LoRAs trained with transformers 4, which peft fuses for transformers 5's fused experts) is loaded
    with its values instead, whole: peft's own conversion then makes them, and none is streamed."""
    with _without_bitsandbytes():
        from peft import PeftConfig, get_peft_model  # imported when used: peft's import takes seconds --verify off skips
        from peft.utils import set_peft_model_state_dict

    config = PeftConfig.from_pretrained(checkpoint.root)
    config.inference_mode = True
    with safe_open(str(Path(checkpoint.root) / checkpoint.adapter_weights), framework="pt") as f:
        stand_ins = {key: torch.zeros(()).expand(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
    with _adapter_kept_where_loaded(), _without_bitsandbytes():
        model = get_peft_model(skeleton, config, low_cpu_mem_usage=True).eval()
        set_peft_model_state_dict(model, stand_ins, low_cpu_mem_usage=True)
    by_storage = {tensor.data_ptr(): key for key, tensor in stand_ins.items()}
    where = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        if param.device.type != "meta" and param.data_ptr() in by_storage:
            where[name] = by_storage[param.data_ptr()]
            owner, _, attr = name.rpartition(".")
            module = model.get_submodule(owner)
            module._parameters[attr] = nn.Parameter(param.to("meta"), requires_grad=False)
    loaded = {n for n, p in model.named_parameters(remove_duplicate=False) if p.device.type != "meta"}
    if loaded:  # peft made these from the file's tensors: it is given the values, and makes them all itself
        with safe_open(str(Path(checkpoint.root) / checkpoint.adapter_weights), framework="pt") as f:
            values = {key: f.get_tensor(key).to(torch.float32) for key in f.keys()}  # noqa: SIM118
        with _adapter_kept_where_loaded(), _without_bitsandbytes():
            set_peft_model_state_dict(model, values, low_cpu_mem_usage=True)
        missing = sorted(n for n in where if model.get_parameter(n).device.type == "meta")
        if missing:
            raise PublishError(f"peft left {missing[0]} without a value; this peft version is not supported")
        where = {}
    return model, where


def adapter_vocab(checkpoint: Checkpoint, model: nn.Module) -> int | None:
    """The vocabulary the adapter was trained with when it carries grown embedding rows (added tokens); else None."""
    names = embedding_modules(model)
    rows = model.get_input_embeddings().num_embeddings
    with safe_open(str(Path(checkpoint.root) / checkpoint.adapter_weights), framework="pt") as f:
        grown = [
            f.get_slice(key).get_shape()[0]
            for key in f.keys()  # noqa: SIM118 (a safetensors handle, not a dict)
            if _SAVED_MODULE.sub("", key.removeprefix(ADAPTER_PREFIX)).removesuffix(".weight") in names
        ]
    return max(grown) if grown and max(grown) > rows else None
