"""Verifier with torch: reference logits from base + adapter (peft, unmerged) and a built model's logits, block by block.

Memory stays bounded whatever the model's size: the model is built on the meta device, and the
weights of one block (a decoder layer, the embeddings, the head) are read from the safetensors
files (the base's and the adapter's) just before the block runs and dropped right after; a big
embedding or output head runs slab by slab. The probe passes once, so every weight is read once:
as fast as loading the model, with a peak of about one layer in fp32 plus the logits. Everything
runs in fp32, so a comparison measures the artifact, not the arithmetic. A bitsandbytes 4-bit
artifact is loaded whole (it is a quarter of the 16-bit size). Design: docs/adr/004.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.ports.progress import Progress

MAX_PROBE_TOKENS = 256
SLAB_ELEMENTS = 4 * 1024 * 1024  # rows converted at once when a weight is read
BIG_LEAF_BYTES = 32 * 1024 * 1024  # a Linear/Embedding this big in fp32 runs slab by slab
TIE_NATS = 0.1  # the reference's top token and the artifact's pick differ by less: a near-tie
PROBE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "A merged model must give the same logits as the base model with its adapter.",
    "In 1969, Apollo 11 landed on the Moon; 384,400 km separate it from the Earth.",
    "def add(a, b):\n    return a + b  # a tiny function\n",
    "Le chat dort sur le canapé, et la pluie tombe doucement sur Paris.",
    "Fine-tuning adapts a pretrained network to a narrower task with little data.",
    "Prices rose 3.5% in March, while wages grew by only 1.2 percent.",
    "She asked whether the library opens at nine o'clock on Sundays.",
    'for i in range(10):\n    if i % 3 == 0:\n        print(f"{i} is divisible by three")\n',
    "Der schnelle braune Fuchs springt über den faulen Hund, und niemand weiß warum.",
    "El modelo ajustado responde en español cuando la pregunta llega en español.",
    "Water boils at 100 degrees Celsius at sea level, but at lower temperatures on a mountain.",
    "Please summarise the meeting notes in three bullet points and send them to the team by Friday.",
    "SELECT name, COUNT(*) FROM orders WHERE total > 250 GROUP BY name ORDER BY 2 DESC;",
    "The committee postponed its decision, citing incomplete data and a pending legal review.",
    "Once upon a time, in a village by the sea, there lived an old fisherman and his curious granddaughter.",
    "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen.",
    "Error: connection refused (errno 111); retrying in 5 seconds...",
)
PROBE_CHAT = (
    {"role": "user", "content": "What is the capital of France? Answer in one word."},
    {"role": "assistant", "content": "Paris."},
)
_ADAPTER_PREFIX = "base_model.model."
_WRAPPERS = re.compile(r"\.(base_layer|original_module)(?=\.)")
_SAVED_MODULE = re.compile(r"\.(base_layer|modules_to_save(\.[^.]+)?)(?=\.weight$)")


def probe_ids(tokenizer: Any, chat_template: str | None, limit: int) -> torch.Tensor:
    """The fixed probe: plain sentences, then one chat turn rendered with the checkpoint's template (if any)."""
    text_ids = list(tokenizer("\n".join(PROBE_SENTENCES))["input_ids"])
    chat_ids: list[int] = []
    if chat_template:
        rendered = tokenizer.apply_chat_template(list(PROBE_CHAT), chat_template=chat_template, tokenize=False)
        chat_ids = list(tokenizer(rendered, add_special_tokens=False)["input_ids"])[: limit // 2]
    return torch.tensor(text_ids[: limit - len(chat_ids)] + chat_ids, dtype=torch.int64)


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        return [model_dir / n for n in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return sorted(model_dir.glob("*.safetensors"))


def _file_keys(files: list[Path]) -> dict[str, Path]:
    where: dict[str, Path] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as f:
                where.update(dict.fromkeys(f.keys(), path))
        except (SafetensorError, OSError) as exc:
            raise UserInputError(f"{path} is not a readable safetensors file ({exc}); re-download or re-save the model") from None
    return where


def _skeleton(model_dir: Path, vocab_size: int | None = None) -> nn.Module:
    """The model's modules with every parameter on the meta device (buffers such as rotary tables are real)."""
    config = AutoConfig.from_pretrained(model_dir)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        if vocab_size and vocab_size != model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(vocab_size, mean_resizing=False)
    model.tie_weights()
    return model.eval()


def _aliases(model: nn.Module) -> dict[str, list[str]]:
    """Each parameter name -> every name of the same tensor (tied weights share one)."""
    groups: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return {name: names for names in groups.values() for name in names}


def _blocks(model: nn.Module) -> list[str]:
    """Names of the modules to load one at a time: each layer of the biggest ModuleList, then every other top part."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        return [""]
    layers, stack = max(lists, key=lambda item: sum(p.numel() for p in item[1].parameters()))
    blocks = [f"{layers}.{i}" for i in range(len(stack))]
    for name, _ in model.named_parameters(remove_duplicate=False):
        if name.startswith(layers + "."):
            continue
        parts = name.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if not (layers + ".").startswith(prefix + "."):
                if prefix not in blocks:
                    blocks.append(prefix)
                break
    return blocks


@functools.cache
def _libc() -> Any:
    """glibc, for malloc_trim; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def _release_freed_memory(collect: bool = False) -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and RSS would grow by a layer's worth);
    `collect` first frees a model's reference cycles."""
    if collect:
        gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _read_rows(path: Path, key: str, start: int = 0, stop: int | None = None, slab: int = SLAB_ELEMENTS) -> torch.Tensor:
    """Rows [start, stop) of a tensor in a safetensors file, in fp32, converted a slab at a time. The file is mapped
    anew for each slab, so at most one slab of its pages is resident beside the result (never a stored copy)."""
    with safe_open(str(path), framework="pt") as f:
        shape = list(f.get_slice(key).get_shape())
        if len(shape) < 2:
            return f.get_tensor(key).to(torch.float32)[start:stop]
    stop = shape[0] if stop is None else min(stop, shape[0])
    value = torch.empty([stop - start, *shape[1:]], dtype=torch.float32)
    step = max(1, slab // max(1, math.prod(shape[1:])))
    for first in range(start, stop, step):
        with safe_open(str(path), framework="pt") as f:
            value[first - start : first - start + step] = f.get_slice(key)[first : min(first + step, stop)]
    return value


def _streamable_leaves(model: nn.Module, big_leaf_bytes: int) -> dict[str, nn.Module]:
    """Plain Linear/Embedding modules too big to hold in fp32 at once (an embedding, an output head), whose weight
    only their own forward reads (not under DoRA, which reads its base weight directly)."""
    found = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if type(module) not in (nn.Linear, nn.Embedding) or weight is None or weight.device.type != "meta":
            continue
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        if weight.numel() * 4 >= big_leaf_bytes and not getattr(parent, "lora_magnitude_vector", None):
            found[name] = module
    return found


class _StreamedWeights:
    """Fills a block's meta parameters from the safetensors files before it runs and empties them after; a big
    Linear/Embedding instead computes its output from slabs of rows read as it goes."""

    def __init__(
        self,
        model: nn.Module,
        files: list[Path],
        aliases: dict[str, list[str]],
        prefix: str,
        progress_task: Any,
        *,
        adapter: tuple[Path, dict[str, str]] | None = None,
        slab: int = SLAB_ELEMENTS,
        big_leaf_bytes: int = BIG_LEAF_BYTES,
    ) -> None:
        self._where = _file_keys(files)
        self._adapter_file, self._adapter_keys = adapter or (Path(), {})
        self._slab = slab
        self._aliases = aliases
        self._prefix = prefix
        self._task = progress_task
        self._handles: list[Any] = []
        self._patched: list[nn.Module] = []
        streamed = set()
        for name, leaf in _streamable_leaves(model, big_leaf_bytes).items():
            leaf.forward = self._slab_forward(leaf, name)  # an instance attribute: removed again in remove()
            self._patched.append(leaf)
            streamed.add(id(leaf))
        for block in _blocks(model):
            module = model.get_submodule(block)
            slots = []
            for sub, param in module.named_parameters(remove_duplicate=False):
                owner = module.get_submodule(sub.rpartition(".")[0]) if "." in sub else module
                if param.device.type == "meta" and id(owner) not in streamed:
                    slots.append((owner, sub.rpartition(".")[2], f"{block}.{sub}"))
            self._handles.append(module.register_forward_pre_hook(self._loader(slots)))
            self._handles.append(module.register_forward_hook(self._unloader(slots)))

    def _located(self, name: str) -> tuple[Path, str]:
        if name in self._adapter_keys:
            return self._adapter_file, self._adapter_keys[name]
        plain = _WRAPPERS.sub("", name.removeprefix(self._prefix))
        for candidate in (plain, *self._aliases.get(plain, ())):
            if candidate in self._where:
                return self._where[candidate], candidate
        raise UserInputError(
            f"the model files hold no weight named {plain!r} (incomplete, or named differently from the modules),"
            " so it cannot be verified block by block; check the folder, or publish with --verify off"
        )

    def _slab_forward(self, leaf: nn.Module, name: str) -> Any:
        path, key = self._located(f"{name}.weight")
        rows = leaf.weight.shape[0]
        step = max(1, self._slab // leaf.weight.shape[1])
        bias = self._located(f"{name}.bias") if getattr(leaf, "bias", None) is not None else None

        def linear(x: torch.Tensor) -> torch.Tensor:
            out = x.new_empty((*x.shape[:-1], rows))
            for start in range(0, rows, step):
                out[..., start : start + step] = x @ _read_rows(path, key, start, start + step, self._slab).T
            return out + _read_rows(*bias) if bias is not None else out

        def embedding(ids: torch.Tensor) -> torch.Tensor:
            wanted, where = ids.unique(return_inverse=True)
            picked = torch.empty((len(wanted), leaf.weight.shape[1]), dtype=torch.float32)
            for start in range(0, rows, step):
                inside = (wanted >= start) & (wanted < start + step)
                if inside.any():
                    picked[inside] = _read_rows(path, key, start, start + step, self._slab)[wanted[inside] - start]
            return picked[where]

        return embedding if isinstance(leaf, nn.Embedding) else linear

    def _loader(self, slots: list[tuple[nn.Module, str, str]]) -> Any:
        def load(module: nn.Module, args: Any) -> None:
            for owner, attr, name in slots:
                owner._parameters[attr] = nn.Parameter(_read_rows(*self._located(name), slab=self._slab), requires_grad=False)

        return load

    def _unloader(self, slots: list[tuple[nn.Module, str, str]]) -> Any:
        metas = [(owner, attr, owner._parameters[attr]) for owner, attr, _ in slots]

        def unload(module: nn.Module, args: Any, output: Any) -> None:
            for owner, attr, meta in metas:
                owner._parameters[attr] = meta
            _release_freed_memory()
            self._task.advance()

        return unload

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        for leaf in self._patched:
            del leaf.forward


@contextlib.contextmanager
def _adapter_kept_where_loaded() -> Iterator[None]:
    """peft moves a loaded adapter to its base layer's device; with the base on meta that would drop the adapter's values."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    original = BaseTunerLayer._move_adapter_to_device_of_base_layer
    BaseTunerLayer._move_adapter_to_device_of_base_layer = lambda self, *args, **kwargs: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseTunerLayer._move_adapter_to_device_of_base_layer = original  # type: ignore[method-assign]


def _peft_model(skeleton: nn.Module, checkpoint: Checkpoint) -> tuple[nn.Module, dict[str, str]]:
    """The base skeleton wrapped by peft as it runs the adapter unmerged, every weight still on meta, and where each
    adapter weight lies in the adapter file.

    peft itself maps the file's keys to its parameters: it is handed stand-ins (the right shape, one element of
    storage each) instead of the values, and each parameter is then matched to the stand-in it received. So no
    adapter weight is loaded up front; they are read block by block like the base's (an adapter can be large:
    full embeddings for added tokens, modules_to_save)."""
    from peft import PeftConfig, get_peft_model  # imported when used: peft's import takes seconds --verify off skips
    from peft.utils import set_peft_model_state_dict

    config = PeftConfig.from_pretrained(checkpoint.root)
    config.inference_mode = True
    with safe_open(str(Path(checkpoint.root) / checkpoint.adapter_weights), framework="pt") as f:
        stand_ins = {key: torch.zeros(()).expand(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
    with _adapter_kept_where_loaded():
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
    if loaded:
        raise PublishError(
            f"peft gave {sorted(loaded)[0]} a value hubship cannot trace to the adapter file; this peft version is not supported"
        )
    return model, where


def _spare_threads() -> int:
    """torch's thread count less the cores other processes keep busy: OpenMP threads that share a core wait on
    each other (on 2 cores with one busy, 2 threads ran the probe 4x slower than 1)."""
    try:
        busy = max(0, round(os.getloadavg()[0]) - 1)  # the load average counts this process too
    except (OSError, AttributeError):
        busy = 0
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) - busy))


def _forward(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    threads = torch.get_num_threads()
    torch.set_num_threads(_spare_threads())
    try:
        with torch.inference_mode():
            return model(input_ids=ids[None], use_cache=False).logits[0].to(torch.float32)
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (UserInputError, PublishError):
        raise
    except (RuntimeError, ValueError, KeyError, OSError, SafetensorError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{what} failed: {first}") from None


def _adapter_vocab(checkpoint: Checkpoint, model: nn.Module) -> int | None:
    """The vocabulary the adapter was trained with when it carries grown embedding rows (added tokens); else None."""
    names = {n for n, m in model.named_modules() if m is model.get_input_embeddings() or m is model.get_output_embeddings()}
    rows = model.get_input_embeddings().num_embeddings
    with safe_open(str(Path(checkpoint.root) / checkpoint.adapter_weights), framework="pt") as f:
        grown = [
            f.get_slice(key).get_shape()[0]
            for key in f.keys()  # noqa: SIM118 (a safetensors handle, not a dict)
            if _SAVED_MODULE.sub("", key.removeprefix(_ADAPTER_PREFIX)).removesuffix(".weight") in names
        ]
    return max(grown) if grown and max(grown) > rows else None


class _StoredRows:
    """Rows of a 2-d tensor in a safetensors file, read on indexing (`rows[a:b]`), so only those rows are resident."""

    def __init__(self, path: Path, key: str) -> None:
        self._path, self._key = path, key
        with safe_open(str(path), framework="pt") as f:
            self.shape = torch.Size(f.get_slice(key).get_shape())

    def __getitem__(self, rows: slice) -> torch.Tensor:
        with safe_open(str(self._path), framework="pt") as f:
            return f.get_slice(self._key)[rows]


def kl_metrics(logits: torch.Tensor, reference: torch.Tensor | _StoredRows, chunk: int = 16) -> dict[str, float]:
    """Position by position against the reference: max |a - r|; mean KL(reference || artifact) in nats (fp64);
    top1_exact, the share where both pick the same top token; top1_agreement, the same up to near-ties: the
    artifact's pick counts when the reference rates it within TIE_NATS of its own top token (on a flat
    distribution, which of two near-equal tokens wins says nothing about quality). Works through `chunk`
    positions at a time in buffers allocated once (fresh temporaries per chunk fragment the heap)."""
    if logits.shape != reference.shape:
        raise PublishError(f"the artifact's logits have shape {tuple(logits.shape)}, the reference's {tuple(reference.shape)}")
    positions, vocab = reference.shape
    log_a, log_r, work, probs = (torch.empty((min(chunk, positions), vocab), dtype=torch.float64) for _ in range(4))
    max_abs, kl_sum, agree, exact = 0.0, 0.0, 0, 0
    for start in range(0, positions, chunk):
        n = min(chunk, positions - start)
        la, lr, w, p = log_a[:n], log_r[:n], work[:n], probs[:n]
        la.copy_(logits[start : start + n])
        lr.copy_(reference[start : start + n])
        max_abs = max(max_abs, float(torch.sub(la, lr, out=w).abs_().max()))
        la.sub_(torch.logsumexp(la, -1, keepdim=True))  # log-softmax, in place
        lr.sub_(torch.logsumexp(lr, -1, keepdim=True))
        kl_sum += float(torch.sub(lr, la, out=w).mul_(torch.exp(lr, out=p)).sum(-1).clamp_min(0).sum())
        pick = la.argmax(-1)
        gap = lr.max(-1).values - lr.gather(-1, pick[:, None])[:, 0]
        agree += int((gap <= TIE_NATS).sum())
        exact += int((pick == lr.argmax(-1)).sum())
    count = max(positions, 1)
    return {"max_abs_diff": max_abs, "mean_kl": kl_sum / count, "top1_agreement": agree / count, "top1_exact": exact / count}


class TorchLogitsVerifier:
    """`slab_elements` and `big_leaf_bytes` set how much of a weight is converted at once and from what size a
    Linear/Embedding is run slab by slab; the defaults suit real models (tests make them small)."""

    def __init__(self, slab_elements: int = SLAB_ELEMENTS, big_leaf_bytes: int = BIG_LEAF_BYTES) -> None:
        self._slab = slab_elements
        self._big_leaf = big_leaf_bytes

    def _tokenizer(self, checkpoint: Checkpoint, base: BaseInfo) -> Any:
        source = checkpoint.root if checkpoint.tokenizer_files else base.path
        with _translated(f"loading the tokenizer from {source}"):
            return AutoTokenizer.from_pretrained(source)

    def reference(self, checkpoint: Checkpoint, base: BaseInfo, out_file: Path, progress: Progress) -> None:
        base_dir = Path(base.path)
        with _translated(f"running base model {checkpoint.base.display} with the adapter"):
            config = AutoConfig.from_pretrained(base_dir)
            limit = min(MAX_PROBE_TOKENS, int(getattr(config, "max_position_embeddings", None) or MAX_PROBE_TOKENS))
            ids = probe_ids(self._tokenizer(checkpoint, base), checkpoint.chat_template, limit)
            skeleton = _skeleton(base_dir)
            aliases = _aliases(skeleton)
            vocab = _adapter_vocab(checkpoint, skeleton)
            if vocab:
                skeleton = _skeleton(base_dir, vocab)
            model, adapter_keys = _peft_model(skeleton, checkpoint)
            adapter = (Path(checkpoint.root) / checkpoint.adapter_weights, adapter_keys)
            logits = self._run(model, _weight_files(base_dir), aliases, _ADAPTER_PREFIX, ids, progress, "reference logits", adapter)
            del model, skeleton
        _release_freed_memory(collect=True)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        save_file({"input_ids": ids.contiguous(), "logits": logits.contiguous()}, str(out_file))

    def _run(
        self,
        model: nn.Module,
        files: list[Path],
        aliases: dict[str, list[str]],
        prefix: str,
        ids: torch.Tensor,
        progress: Progress,
        what: str,
        adapter: tuple[Path, dict[str, str]] | None = None,
    ) -> torch.Tensor:
        with progress.task(what, total=len(_blocks(model)), unit="blocks") as task:
            hooks = _StreamedWeights(model, files, aliases, prefix, task, adapter=adapter, slab=self._slab, big_leaf_bytes=self._big_leaf)
            try:
                return _forward(model, ids)
            finally:
                hooks.remove()

    def compare(self, model_dir: Path, reference_file: Path, progress: Progress) -> dict[str, float]:
        with safe_open(str(reference_file), framework="pt") as f:
            ids = f.get_tensor("input_ids")
        with _translated(f"running the built model in {model_dir}"):
            config = json.loads((model_dir / "config.json").read_text())
            if config.get("quantization_config"):
                with progress.task("artifact logits (quantized)", total=1, unit="models") as task:
                    model = AutoModelForCausalLM.from_pretrained(model_dir, device_map="cpu", dtype=torch.float32).eval()
                    logits = _forward(model, ids)
                    task.advance()
            else:
                model = _skeleton(model_dir)
                logits = self._run(model, _weight_files(model_dir), _aliases(model), "", ids, progress, "artifact logits")
            del model
        _release_freed_memory(collect=True)
        return kl_metrics(logits, _StoredRows(reference_file, "logits"))
