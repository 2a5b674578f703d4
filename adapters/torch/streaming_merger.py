"""Merger that streams: base tensors are read one at a time, merged in fp32, cast once, and written to output shards.

Peak memory is a few copies of the largest tensor (plus a 16 MB copy buffer), whatever the model's
size: tensors are read with plain file reads (no mapping that would leave a whole shard resident),
and each output shard's header is planned before its first byte is written, so a shard never has
to be held in memory. Every file is written under a temporary name and renamed only once every
shard, the index and config.json are complete.

Semantics are peft's, as the adapter runs unmerged in training: W + scaling * B @ A (transposed
with fan_in_fan_out), scaling = alpha / r or alpha / sqrt(r) (rsLoRA), r and alpha per module from
rank_pattern / alpha_pattern, DoRA's magnitude rescaling, embedding LoRA, lora_bias, and full
tensors saved in the adapter (modules_to_save, saved embedding layers, grown vocabularies). When a
model ties its input and output embeddings and the adapter changes either, the two are written
separately (tie_word_embeddings false), each as peft computes it, so neither is left stale.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import torch
from accelerate import init_empty_weights
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.pytorch_utils import Conv1D

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import PublishError, UserInputError
from hubship.ports.progress import Progress

ST_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}
OUT_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
CONFIG_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
COPY_CHUNK = 16 * 1024 * 1024
_ADAPTER_PREFIX = "base_model.model."
_LORA_KEY = re.compile(
    r"^(?P<module>.+?)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)(?:\.(?P<rest>.+))?$"
)
_SAVED_WRAPPER = re.compile(r"\.(base_layer|modules_to_save(\.[^.]+)?)(?=\.[^.]+$)")


@attrs.frozen
class Stored:
    """One tensor inside a safetensors file: where its bytes are and what they hold."""

    path: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def read_header(path: Path, what: str) -> dict[str, Stored]:
    """Every tensor of a safetensors file, checked against the file's size (a truncated file is a UserInputError)."""
    size = path.stat().st_size
    fix = f"re-download or re-save {what}"
    with path.open("rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        if size < 8 or length <= 0 or 8 + length > size:
            raise UserInputError(f"{path} is truncated or not a safetensors file ({size} bytes); {fix}")
        try:
            header = json.loads(fh.read(length))
        except (ValueError, UnicodeDecodeError):
            raise UserInputError(f"{path} has a corrupt safetensors header; {fix}") from None
    found = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        if 8 + length + end > size:
            raise UserInputError(f"{path} is truncated ({size} bytes, its header promises {8 + length + end}); {fix}")
        if meta["dtype"] not in ST_DTYPES:
            raise UserInputError(f"{path} holds {key} as {meta['dtype']}, which hubship cannot merge; {fix} in bf16, fp16 or fp32")
        found[key] = Stored(path, meta["dtype"], tuple(meta["shape"]), 8 + length + begin, 8 + length + end)
    return found


def read_tensor(stored: Stored, into: torch.Tensor | None = None) -> torch.Tensor:
    """The tensor's values, read with plain file reads (no mapping of the file) into fresh memory or into `into`
    (a uint8 buffer of at least its size, reused from tensor to tensor)."""
    buffer = torch.empty(stored.nbytes, dtype=torch.uint8) if into is None else into[: stored.nbytes]
    with stored.path.open("rb") as fh:
        fh.seek(stored.start)
        if stored.nbytes and fh.readinto(memoryview(buffer.numpy())) != stored.nbytes:
            raise UserInputError(f"{stored.path} ended early; re-download or re-save it")
    return buffer.view(ST_DTYPES[stored.dtype]).reshape(stored.shape)


@attrs.frozen
class Lora:
    """The LoRA parts of one module and its scaling, as peft computes them."""

    module: str
    embedding: bool
    a: Stored
    b: Stored
    scaling: float
    magnitude: Stored | None = None
    bias: Stored | None = None
    transposed: bool = False  # the base stores the weight as (in, out): a Conv1D, peft's fan_in_fan_out


@attrs.frozen
class Output:
    """One tensor of the merged model: where its values come from and what it becomes."""

    name: str
    source: Stored
    shape: tuple[int, ...]
    dtype: torch.dtype
    lora: Lora | None = None

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def is_copy(self) -> bool:
        return self.lora is None and ST_DTYPES[self.source.dtype] == self.dtype


def _base_tensors(base_dir: Path, files: Iterable[str]) -> dict[str, Stored]:
    found: dict[str, Stored] = {}
    for name in files:
        found.update(read_header(base_dir / name, f"base model shard {name}"))
    return dict(sorted(found.items(), key=lambda item: (str(item[1].path), item[1].start)))


def pattern_value(pattern: dict[str, Any], module: str, default: Any) -> Any:
    """The value of the first key of a rank_pattern / alpha_pattern matching `module`, as peft matches them
    (`peft.utils.other.get_pattern_key`: the key is a regex for the name's tail). Not imported from peft, whose
    import alone takes seconds that a merge does not otherwise spend."""
    for key in pattern:
        if re.match(rf"(.*\.)?({key})$", module):
            return pattern[key]
    return default


def _scaling(config: dict[str, Any], module: str, rank: int) -> float:
    r = pattern_value(config.get("rank_pattern") or {}, module, config.get("r", 8))
    alpha = pattern_value(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8))
    if int(r) != rank:
        raise UserInputError(f"adapter_config.json gives {module} rank {r} but its weights have rank {rank}; re-save the adapter")
    return float(alpha) / (math.sqrt(rank) if config.get("use_rslora") else rank)


def adapter_parts(
    config: dict[str, Any], tensors: dict[str, Stored], transposed: frozenset[str] = frozenset()
) -> tuple[dict[str, Lora], dict[str, Stored]]:
    """Split the adapter file into LoRA modules and full tensors that replace base tensors (modules_to_save...).

    `transposed` names the modules whose weight is stored (in, out): peft applies fan_in_fan_out to
    exactly those (it overrides the config's flag by the module's type), and so does the merge.
    """
    parts: dict[str, dict[str, Stored]] = {}
    replaced: dict[str, Stored] = {}
    for key, stored in tensors.items():
        name = key.removeprefix(_ADAPTER_PREFIX)
        match = _LORA_KEY.match(name)
        if match:
            leaf = "bias" if (match["rest"] or "").endswith("bias") else "weight"
            parts.setdefault(match["module"], {})[f"{match['part']}.{leaf}"] = stored
        else:
            replaced[_SAVED_WRAPPER.sub("", name)] = stored
    loras = {}
    for module, found in parts.items():
        embedding = "lora_embedding_A.weight" in found
        a = found.get("lora_embedding_A.weight" if embedding else "lora_A.weight")
        b = found.get("lora_embedding_B.weight" if embedding else "lora_B.weight")
        if a is None or b is None:
            raise UserInputError(f"the adapter holds only half of the LoRA pair of {module}; re-save the adapter")
        loras[module] = Lora(
            module=module,
            embedding=embedding,
            a=a,
            b=b,
            scaling=_scaling(config, module, a.shape[0]),
            magnitude=found.get("lora_magnitude_vector.weight"),
            bias=found.get("lora_B.bias"),
            transposed=module in transposed,
        )
    return loras, replaced


@attrs.frozen
class ModelFacts:
    """What the merge needs to know about the base's modules: tied weights, embeddings, Conv1D layers."""

    tied: list[set[str]]
    embeddings: set[str]
    transposed: frozenset[str]
    config: dict[str, Any]


def model_facts(base_dir: Path) -> ModelFacts:
    """Read from the base's modules built on the meta device (no weights)."""
    config = AutoConfig.from_pretrained(base_dir)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()
    groups: dict[int, set[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), set()).add(name)
    embeddings = {
        f"{n}.weight" for n, m in model.named_modules() if m is model.get_input_embeddings() or m is model.get_output_embeddings()
    }
    return ModelFacts(
        tied=[g for g in groups.values() if len(g) > 1],
        embeddings=embeddings,
        transposed=frozenset(n for n, m in model.named_modules() if isinstance(m, Conv1D)),
        config=json.loads((base_dir / "config.json").read_text()),
    )


def _check_lora(lora: Lora, shape: tuple[int, ...], base_name: str) -> None:
    if len(shape) != 2:
        raise UserInputError(f"the adapter targets {lora.module}, a {len(shape)}-d weight hubship cannot merge; publish with --format lora")
    rows, cols = (shape[1], shape[0]) if lora.transposed else shape
    if lora.embedding:
        fits = lora.a.shape == (lora.a.shape[0], rows) and lora.b.shape == (cols, lora.a.shape[0])
    else:
        fits = lora.a.shape == (lora.a.shape[0], cols) and lora.b.shape == (rows, lora.a.shape[0])
    magnitude = cols if lora.embedding else rows
    if not fits or (lora.magnitude is not None and lora.magnitude.shape != (magnitude,)):
        raise UserInputError(
            f"the adapter does not fit base model {base_name}: {lora.module} is {shape} in the base;"
            " pass --base with the model the adapter was trained on"
        )


def plan_outputs(
    base: dict[str, Stored],
    loras: dict[str, Lora],
    replaced: dict[str, Stored],
    tied: list[set[str]],
    embeddings: set[str],
    dtype: torch.dtype,
    *,
    base_name: str,
) -> tuple[list[Output], bool, int | None]:
    """The merged model's tensors in write order; whether tied weights were untied; the vocabulary size when grown."""
    alias = {n: group for group in tied for n in group}
    known = set(base) | set(alias)
    for name in [*(f"{m}.weight" for m in loras), *replaced]:
        if name not in known:
            raise UserInputError(
                f"the adapter changes {name.rsplit('.', 1)[0]}, which base model {base_name} does not have;"
                " pass --base with the model the adapter was trained on"
            )
    touched = {f"{m}.weight" for m in loras} | {f"{m}.bias" for m, lo in loras.items() if lo.bias is not None} | set(replaced)
    untie = any(group & touched for group in tied)

    def output(name: str, stored: Stored) -> Output:
        source = replaced.get(name, stored)
        grows = name in embeddings and source.shape[1:] == stored.shape[1:] and source.shape[0] > stored.shape[0]
        if source.shape != stored.shape and not grows:
            raise UserInputError(
                f"the adapter's {name} is {source.shape} but the base's is {stored.shape}; pass --base with the right model"
            )
        module, _, leaf = name.rpartition(".")
        lora = loras.get(module) if leaf == "weight" or (leaf == "bias" and module in loras and loras[module].bias is not None) else None
        if lora is not None and leaf == "weight":
            _check_lora(lora, source.shape, base_name)
        out_dtype = dtype if ST_DTYPES[source.dtype].is_floating_point else ST_DTYPES[source.dtype]
        return Output(name=name, source=source, shape=source.shape, dtype=out_dtype, lora=lora)

    outputs: list[Output] = []
    stored_names = set(base)
    for name, stored in base.items():
        outputs.append(output(name, stored))
        if untie:  # the tied names the base file does not store get their own tensor
            outputs += [output(other, stored) for other in sorted(alias.get(name, set()) - stored_names)]
    for module, lora in loras.items():
        if lora.bias is not None and f"{module}.bias" not in base:
            raise UserInputError(
                f"the adapter has a LoRA bias (lora_bias) on {module}, whose base layer has no bias, so it cannot be merged;"
                " publish it with --format lora"
            )
    rows = {o.shape[0] for o in outputs if o.name in embeddings}
    if len(rows) > 1:
        raise UserInputError(
            "the adapter grows the vocabulary of one embedding but not the other (input and output rows differ);"
            " re-save it with save_embedding_layers=True"
        )
    grown = next(iter(rows)) if rows and any(base[n].shape[0] not in rows for n in embeddings if n in base) else None
    return outputs, untie, grown


def shard_plan(outputs: list[Output], max_shard_bytes: int) -> list[list[Output]]:
    """Outputs grouped into shards of at most `max_shard_bytes` (a bigger single tensor gets a shard of its own)."""
    shards: list[list[Output]] = [[]]
    size = 0
    for out in outputs:
        if shards[-1] and size + out.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(out)
        size += out.nbytes
    return shards


class Buffers:
    """Memory for computing tensors, allocated once at the size of the largest and reused for each: the source
    bytes, the fp32 sum and the cast result. (Fresh allocations per tensor cost more in page faults than the math.)"""

    def __init__(self, outputs: list[Output]) -> None:
        computed = [o for o in outputs if not o.is_copy]
        self.source = torch.empty(max((o.source.nbytes for o in computed), default=0), dtype=torch.uint8)
        self.fp32 = torch.empty(max((math.prod(o.shape) for o in computed if o.lora), default=0), dtype=torch.float32)
        self.result = torch.empty(max((o.nbytes for o in computed), default=0), dtype=torch.uint8)

    def cast(self, value: torch.Tensor, out: Output) -> torch.Tensor:
        """`value` converted to the output dtype, in the result buffer (valid until the next call)."""
        return self.result[: out.nbytes].view(out.dtype).view(out.shape).copy_(value)


def merged_tensor(out: Output, buffers: Buffers) -> torch.Tensor:
    """The output tensor's values: the source plus the LoRA delta, summed in fp32 in place, cast once to the output
    dtype. The result lives in `buffers` until the next call."""
    value = read_tensor(out.source, buffers.source)
    lora = out.lora
    if lora is None:
        return buffers.cast(value, out)
    merged = buffers.fp32[: math.prod(out.shape)].view(out.shape).copy_(value)
    if out.name.endswith(".bias"):
        merged.add_(read_tensor(lora.bias).to(torch.float32), alpha=lora.scaling)  # type: ignore[arg-type]
        return buffers.cast(merged, out)
    a, b = read_tensor(lora.a).to(torch.float32), read_tensor(lora.b).to(torch.float32)
    if lora.embedding:  # W (vocab, dim) += s * (B @ A)^T; DoRA rescales each of the dim columns
        merged.addmm_(a.T, b.T, alpha=lora.scaling)
        if lora.magnitude is not None:
            merged.mul_((read_tensor(lora.magnitude).to(torch.float32) / torch.linalg.norm(merged, dim=0)).unsqueeze(0))
        return buffers.cast(merged, out)
    rows = merged.T if lora.transposed else merged  # (out, in) view, whatever the storage order
    rows.addmm_(b, a, alpha=lora.scaling)
    if lora.magnitude is not None:  # DoRA: each output row rescaled to its trained magnitude
        rows.mul_((read_tensor(lora.magnitude).to(torch.float32) / torch.linalg.norm(rows, dim=1)).unsqueeze(1))
    return buffers.cast(merged, out)


def _copy_bytes(out: Output, fh: BinaryIO, buffer: bytearray) -> None:
    view = memoryview(buffer)
    with out.source.path.open("rb") as src:
        src.seek(out.source.start)
        left = out.source.nbytes
        while left:
            got = src.readinto(view[: min(left, len(buffer))])
            if not got:
                raise UserInputError(f"{out.source.path} ended early; re-download or re-save it")
            fh.write(view[:got])
            left -= got


def _write_shard(path: Path, shard: list[Output], buffer: bytearray, buffers: Buffers, task: Any) -> None:
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for out in shard:
        header[out.name] = {"dtype": ST_NAMES[out.dtype], "shape": list(out.shape), "data_offsets": [offset, offset + out.nbytes]}
        offset += out.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as fh:
        fh.write(len(encoded).to_bytes(8, "little"))
        fh.write(encoded)
        for out in shard:
            if out.is_copy:
                _copy_bytes(out, fh, buffer)
            else:
                fh.write(memoryview(merged_tensor(out, buffers).reshape(-1).view(torch.uint8).numpy()))
            task.advance(out.nbytes)


def _merged_config(raw: dict[str, Any], checkpoint: Checkpoint, dtype: str, untie: bool, vocab: int | None) -> dict[str, Any]:
    config = dict(raw)
    for key in [k for k in ("dtype", "torch_dtype") if k in config] or ["dtype"]:
        config[key] = CONFIG_DTYPES[dtype]
    nested = [config, *(config[k] for k in ("text_config",) if isinstance(config.get(k), dict))]
    for part in nested:
        if untie and (part is config or "tie_word_embeddings" in part):
            part["tie_word_embeddings"] = False
        if vocab and "vocab_size" in part:
            part["vocab_size"] = vocab
    if checkpoint.generation_config:  # the stop tokens the model was trained with
        generation = json.loads((Path(checkpoint.root) / checkpoint.generation_config).read_text())
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            if generation.get(key) is not None:
                config[key] = generation[key]
    return config


class StreamingMerger:
    def merge(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        out_dir: Path,
        *,
        dtype: str | None,
        max_shard_bytes: int,
        progress: Progress,
    ) -> None:
        out_dtype = dtype or base.dtype
        base_dir = Path(base.path)
        tensors = _base_tensors(base_dir, base.weight_files)
        adapter = read_header(Path(checkpoint.root) / checkpoint.adapter_weights, "the adapter")
        facts = model_facts(base_dir)
        loras, replaced = adapter_parts(dict(checkpoint.adapter_config), adapter, facts.transposed)
        outputs, untie, vocab = plan_outputs(
            tensors, loras, replaced, facts.tied, facts.embeddings, OUT_DTYPES[out_dtype], base_name=checkpoint.base.display
        )
        shards = shard_plan(outputs, max_shard_bytes)
        names = (
            ["model.safetensors"]
            if len(shards) == 1
            else [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
        )
        final: dict[str, bytes | None] = dict.fromkeys(names)
        if len(shards) > 1:
            weight_map = {out.name: name for name, shard in zip(names, shards, strict=True) for out in shard}
            index = {"metadata": {"total_size": sum(o.nbytes for o in outputs)}, "weight_map": weight_map}
            final["model.safetensors.index.json"] = json.dumps(index, indent=2, sort_keys=True).encode()
        merged_config = _merged_config(facts.config, checkpoint, out_dtype, untie, vocab)
        final["config.json"] = (json.dumps(merged_config, indent=2, sort_keys=True) + "\n").encode()
        temp = {name: out_dir / f".{name}.partial" for name in final}
        buffer, buffers = bytearray(COPY_CHUNK), Buffers(outputs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the per-tensor math is memory-bound: more threads only wait on each other
        try:
            with progress.task("merge (streaming)", total=sum(o.nbytes for o in outputs), unit="bytes") as task:
                for name, shard in zip(names, shards, strict=True):
                    _write_shard(temp[name], shard, buffer, buffers, task)
            for name, content in final.items():
                if content is not None:
                    temp[name].write_bytes(content)
            for name in final:  # only now, with every file complete, do the real names appear
                os.replace(temp[name], out_dir / name)
        except BaseException as exc:
            for path in temp.values():
                path.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise PublishError(f"writing the merged model into {out_dir} failed: {exc.strerror or exc}") from None
            raise
        finally:
            torch.set_num_threads(threads)
