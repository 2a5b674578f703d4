"""The merged model's files, written so that none appears half-written: every shard's header is planned before its
first byte, and every file is written under a temporary name, renamed only once all of them are complete."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import torch

from hubship.adapters.torch.merge.plan import Output
from hubship.adapters.torch.merge.safetensors_reader import dtype_name
from hubship.adapters.torch.merge.tensor_math import Buffers, merged_tensor
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.manifest import WRITTEN_HASHES, stat_stamp
from hubship.ports.progress import Progress

COPY_CHUNK = 16 * 1024 * 1024
PARALLEL_HASH_BYTES = 1024 * 1024  # a write from this size is hashed on another thread as it is written
INDEX_FILE = "model.safetensors.index.json"


def named_shards(shards: list[list[Output]]) -> dict[str, list[Output]]:
    """Each shard under its file name, in order: model.safetensors alone, else model-0000i-of-0000n.safetensors."""
    if len(shards) == 1:
        return {"model.safetensors": shards[0]}
    return {f"model-{i:05d}-of-{len(shards):05d}.safetensors": shard for i, shard in enumerate(shards, start=1)}


def index_json(shards: dict[str, list[Output]]) -> bytes:
    """model.safetensors.index.json for these shards: each tensor's file and the total size."""
    weight_map = {out.name: name for name, shard in shards.items() for out in shard}
    index = {"metadata": {"total_size": sum(o.nbytes for shard in shards.values() for o in shard)}, "weight_map": weight_map}
    return json.dumps(index, indent=2, sort_keys=True).encode()


class _HashingWriter:
    """A binary file that hashes what is written to it: the shard's sha256 without reading it back. A big write is
    hashed on a second thread while it is written (both release the GIL): the two take as long as the slower."""

    def __init__(self, fh: BinaryIO, pool: ThreadPoolExecutor) -> None:
        self._fh, self._pool, self.digest = fh, pool, hashlib.sha256()

    def write(self, data: bytes | memoryview) -> int:
        if len(data) < PARALLEL_HASH_BYTES:
            self.digest.update(data)
            return self._fh.write(data)
        hashed = self._pool.submit(self.digest.update, data)
        try:
            return self._fh.write(data)
        finally:
            hashed.result()


def _copy_bytes(out: Output, fh: BinaryIO | _HashingWriter, buffer: bytearray) -> None:
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


def _write_shard(path: Path, shard: list[Output], buffer: bytearray, buffers: Buffers, task: Any, pool: ThreadPoolExecutor) -> str:
    """Write one shard; its sha256, hashed as it was written."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for out in shard:
        header[out.name] = {"dtype": dtype_name(out.dtype), "shape": list(out.shape), "data_offsets": [offset, offset + out.nbytes]}
        offset += out.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as raw:
        fh = _HashingWriter(raw, pool)
        fh.write(len(encoded).to_bytes(8, "little"))
        fh.write(encoded)
        for out in shard:
            if out.is_copy:
                _copy_bytes(out, fh, buffer)
            else:
                fh.write(memoryview(merged_tensor(out, buffers).reshape(-1).view(torch.uint8).numpy()))
            task.advance(out.nbytes)
    return fh.digest.hexdigest()


def _record_hashes(out_dir: Path, digests: dict[str, str]) -> None:
    """WRITTEN_HASHES for the files just put in place (their stat now: a later change to a file voids its entry)."""
    entries = {}
    for name, sha256 in digests.items():
        entries[name] = [*stat_stamp((out_dir / name).stat()), sha256]
    (out_dir / WRITTEN_HASHES).write_text(json.dumps(entries, indent=1, sort_keys=True))


def write_model(out_dir: Path, shards: dict[str, list[Output]], files: dict[str, bytes], progress: Progress) -> None:
    """Write each shard's tensors (copied as bytes, or merged) and then `files` (name -> content) into `out_dir`, each
    as .NAME.partial, renamed to NAME only once every file is complete, with each file's sha256 (hashed while it
    was written) in WRITTEN_HASHES. On any failure the temporary files are removed and no real name appears; an
    OSError becomes a PublishError."""
    outputs = [out for shard in shards.values() for out in shard]
    temp = {name: out_dir / f".{name}.partial" for name in [*shards, *files]}
    buffer, buffers = bytearray(COPY_CHUNK), Buffers(outputs)
    digests = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the per-tensor math is memory-bound: more threads only wait on each other
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="hubship-hash") as pool,
            progress.task("merge (streaming)", total=sum(o.nbytes for o in outputs), unit="bytes") as task,
        ):
            for name, shard in shards.items():
                digests[name] = _write_shard(temp[name], shard, buffer, buffers, task, pool)
        for name, content in files.items():
            temp[name].write_bytes(content)
        for name, path in temp.items():  # only now, with every file complete, do the real names appear
            os.replace(path, out_dir / name)
        _record_hashes(out_dir, digests)
    except BaseException as exc:
        for path in temp.values():
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise PublishError(f"writing the merged model into {out_dir} failed: {exc.strerror or exc}") from None
        raise
    finally:
        torch.set_num_threads(threads)
