"""`gguf-<quant>`: the intermediate quantized by llama.cpp's quantizer, split above --gguf-split-max-size, and
measured against `reference-logits` (KL, top-1) when that internal format is in the plan."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import INTERMEDIATE, INTERMEDIATE_INFO, REFERENCE, TOOLS, GgufBase, Preflight
from hubship.application.formats.memory import SLAB, llama_cpp_step, logits_bytes, quantize_bytes
from hubship.application.formats.sizes import gguf_file_bytes
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.gguf_quants import Quant
from hubship.domain.plan import Estimate
from hubship.domain.quality import VERIFICATION_FILE
from hubship.ports.verifier import REFERENCE_FILE

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class GgufQuantFormat(GgufBase):
    """`gguf-<quant>`: the intermediate quantized by llama.cpp, split above --gguf-split-max-size, measured."""

    def __init__(self, quant: Quant, preflight: Preflight, with_reference: bool) -> None:
        super().__init__(preflight)
        self.quant = quant
        self.format = Format(
            name=quant.format_name,
            relation="quantized",
            description=f"The merged model in GGUF, quantized to {quant.name} for llama.cpp, Ollama and LM Studio",
            builds_from=(INTERMEDIATE, REFERENCE) if with_reference else (INTERMEDIATE,),
            library_name="gguf",
            tools=TOOLS,
        )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        split = options.get("gguf_split_max_size")
        return {**super().params(options, base), "quant": self.quant.name, "split_max_size": int(split) if split else None}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        if self.quant.needs_imatrix:
            raise UserInputError(
                f"{self.format.name} needs an importance matrix (imatrix), which hubship cannot make or take yet;"
                " choose gguf-q2_k, gguf-iq3_xxs or a larger quantization"
            )

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = gguf_file_bytes(base, self.quant.name, self.quant.bpw)
        return Estimate(size_bytes=size, peak_memory_bytes=llama_cpp_step(quantize_bytes(base) + size + logits_bytes(base) + SLAB))

    def build(self, ctx: BuildContext) -> None:
        source_dir = ctx.inputs[INTERMEDIATE]
        source = json.loads((source_dir / INTERMEDIATE_INFO).read_text())
        out_file = ctx.out_dir / f"{ctx.params['name']}.{self.quant.name}.gguf"
        if source["type"] == self.quant.name:  # the intermediate is this very file: link it, do not copy it
            _link(source_dir / source["file"], out_file)
        else:
            ctx.service("gguf_quantizer").quantize(source_dir / source["file"], out_file, self.quant.name, progress=ctx.progress)
        files: tuple[Path, ...] = (out_file,)
        split = ctx.params["split_max_size"]
        if split and out_file.stat().st_size > split:
            files = ctx.service("converter").split(out_file, split, ctx.progress)
        reference = ctx.inputs[REFERENCE] / REFERENCE_FILE if REFERENCE in ctx.inputs else None
        metrics = ctx.service("gguf_verifier").measure(
            files, reference if reference and reference.is_file() else None, progress=ctx.progress
        )
        thresholds = {"mean_kl": {"max": self.quant.kl_max}}
        verification = {"metrics": {"quantization": self.quant.name, **metrics}, "thresholds": thresholds}
        (ctx.out_dir / VERIFICATION_FILE).write_text(json.dumps(verification, indent=2))

    def usage(self, repo_or_path: str) -> str:
        tag = self.quant.name
        if _HUB_ID.match(repo_or_path):
            commands = f"llama-cli -hf {repo_or_path}:{tag}\nollama run hf.co/{repo_or_path}:{tag}"
        else:  # a folder: the file, or the first of its shards (`-00001-of-N`), which pulls in the rest
            commands = f"llama-cli -m {repo_or_path}/<name>.{tag}.gguf"
        return f"```sh\n{commands}\n```"
