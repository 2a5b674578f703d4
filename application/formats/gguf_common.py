"""What every GGUF format shares: the internal format names, the converter preflight (run once per
checkpoint and base however many GGUF formats share it), and the params every GGUF format carries."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format

INTERMEDIATE = "gguf-intermediate"
REFERENCE = "reference-logits"
INTERMEDIATE_INFO = ".gguf-intermediate.json"
TOOLS = ("llama_cpp_python",)


def metadata(ctx: BuildContext) -> dict[str, Any]:
    """The name, base model and license the converter writes into the GGUF."""
    base_ref = ctx.checkpoint.base
    return {"name": ctx.params["name"], "base_model": base_ref.card_id or base_ref.public_name, "license": ctx.params["license"]}


class Preflight:
    """The converter's plan-time check, run once per checkpoint and base however many GGUF formats share it."""

    def __init__(self) -> None:
        self._passed: set[tuple[str, str]] = set()

    def run(self, checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any]) -> None:
        key = (checkpoint.root, base.path)
        if key in self._passed:
            return
        with tempfile.TemporaryDirectory(prefix="hubship-gguf-tokenizer-") as tmp:
            services["saver"].save_tokenizer(checkpoint, base, Path(tmp))  # the tokenizer the merged model will carry
            services["converter"].check(Path(base.path), Path(tmp))
        self._passed.add(key)


class GgufBase:
    """What every GGUF format shares: the publish name and license in params, the converter preflight."""

    format: Format

    def __init__(self, preflight: Preflight) -> None:
        self._preflight = preflight

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {"name": str(options.get("name") or "model"), "license": base.license}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        self._preflight.run(checkpoint, base, services)
