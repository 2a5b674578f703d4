"""A stand-in `gguf-<quant>` format: a file with a valid minimal GGUF header, built in milliseconds.

Ollama tests need a GGUF to upload, not a real quantization: the stand-in writes the GGUF magic,
version 3, zero tensors and zero metadata entries (what Ollama's stand-in server checks), or with `architecture`
one: `general.architecture`, which Ollama reads at `ollama create`. `extra` files
(name -> bytes, e.g. the Hub's Ollama files `template` and `params`) are written beside it.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate

GGUF_HEADER = b"GGUF" + struct.pack("<IQQ", 3, 0, 0)


def gguf_header(architecture: str = "") -> bytes:
    """A minimal GGUF header: no tensors, and `general.architecture` as its one metadata pair when given."""
    if not architecture:
        return GGUF_HEADER
    key, value = b"general.architecture", architecture.encode()
    pair = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(value)) + value
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + pair


class StandInGgufFormat:
    def __init__(
        self, quant: str = "Q4_K_M", payload: bytes = b"", extra: Mapping[str, bytes] | None = None, architecture: str = ""
    ) -> None:
        self.quant = quant
        self.header = gguf_header(architecture)
        self.payload = payload
        self.extra = dict(extra or {})
        self.builds = 0
        self.format = Format(name=f"gguf-{quant.lower()}", relation="quantized", description="A stand-in GGUF", library_name="gguf")

    def params(self, options: Mapping[str, Any], base: Any) -> dict[str, Any]:
        found = {"quant": self.quant, "payload": self.payload.hex(), "header": self.header.hex()}
        return found | ({"extra": {name: data.hex() for name, data in sorted(self.extra.items())}} if self.extra else {})

    def check(self, checkpoint: Any, base: Any, params: Mapping[str, Any]) -> None:
        return None

    def estimate(self, checkpoint: Any, base: Any, params: Mapping[str, Any]) -> Estimate:
        return Estimate(size_bytes=len(self.header) + len(self.payload))

    def build(self, ctx: BuildContext) -> None:
        self.builds += 1
        (ctx.out_dir / f"model.{self.quant}.gguf").write_bytes(self.header + self.payload)
        for name, data in self.extra.items():
            (ctx.out_dir / name).write_bytes(data)

    def usage(self, repo_or_path: str) -> str:
        return f"llama-cli -m {repo_or_path}/model.{self.quant}.gguf"
