"""`gguf-intermediate` (internal): the merged model converted once, losslessly, the source of every `gguf-<quant>`;
for a vision-language model also its vision projector (`mmproj-*.gguf`), which every quantization carries as it is
(docs/adr/022-vision-projector.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from hubship.application.chat_proof import bos_choice, gguf_settings
from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import (
    INTERMEDIATE,
    INTERMEDIATE_INFO,
    OLLAMA_FILES_TOOLS,
    TEMPLATE_NOTE,
    GgufBase,
    metadata,
    warm_converter,
)
from hubship.application.formats.gguf_usage import PROJECTOR_PREFIX
from hubship.application.formats.memory import converter_step
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.application.formats.sizes import gguf_file_bytes
from hubship.application.gguf_chat_template import gguf_chat_template_for
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate

OUTTYPES = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}  # merged dtype -> lossless GGUF type


def lossless_outtype(options: Mapping[str, Any], base: BaseInfo) -> str:
    """The lossless GGUF type of a model in the dtype merged-16bit writes (f32, f16 or bf16)."""
    return OUTTYPES[Merged16bitFormat().params(options, base)["dtype"]]


def lossless_bytes(base: BaseInfo, outtype: str) -> int:
    """The size of the base-shaped model as a GGUF of the lossless type `outtype`."""
    return gguf_file_bytes(base, outtype.upper(), 32.0 if outtype == "f32" else 16.0)


class GgufIntermediateFormat(GgufBase):
    """The merged model as one lossless GGUF, converted once by llama.cpp's converter (internal).

    The build leaves `INTERMEDIATE_INFO` beside the file: its name and GGUF type, for the quantizations. Where Ollama
    0.30.0+ renders the model in llama.cpp with tools, the file carries the chat template application.gguf_chat_template
    chooses: the checkpoint's, with THINKING_HINT before it or llama.cpp's engine gaps patched where llama-server proves
    that its tool conversations then render as transformers renders the checkpoint's (why a rewrite was not kept is
    under TEMPLATE_NOTE).
    """

    format = Format(
        name=INTERMEDIATE,
        relation="quantized",
        description="The merged model converted to GGUF without loss, the source of every quantization",
        builds_from=("merged-16bit",),
        library_name="gguf",
        tools=OLLAMA_FILES_TOOLS,  # the chat template it carries can depend on the Ollama files' derivation
        internal=True,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {**super().params(options, base), "outtype": lossless_outtype(options, base)}

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        return Estimate(size_bytes=lossless_bytes(base, params["outtype"]), peak_memory_bytes=converter_step(base))

    def warm_up(self, services: Mapping[str, Any], needed: bool) -> None:
        warm_converter(services, needed)

    def build(self, ctx: BuildContext) -> None:
        outtype = ctx.params["outtype"]
        out_file = ctx.out_dir / f"{ctx.params['name']}.{outtype.upper()}.gguf"
        renderer, bos = ctx.service("chat_renderer"), ctx.params["bos"]
        settings = gguf_settings(renderer, ctx.checkpoint, ctx.base, bos_choice(renderer, ctx.checkpoint, ctx.base, bos))
        converter, merged = ctx.service("converter"), ctx.inputs["merged-16bit"]

        vocab = self._preflight.run(ctx.checkpoint, ctx.base, ctx.services, bos)  # made at plan time: not converted again
        made = self._preflight.ollama.files_for(ctx.checkpoint, ctx.base, ctx.services, bos, vocab)  # the quantizations' too

        def written(chosen: str | None) -> str | None:
            """The template the converter writes over the checkpoint's (None: the checkpoint's, as it reads it)."""
            return None if chosen is None or chosen == made.profile.template else chosen  # no profile: chosen is None

        def convert(chosen: str | None) -> None:
            chosen_settings = attrs.evolve(settings, chat_template=written(chosen))
            converter.convert(merged, out_file, outtype=outtype, progress=ctx.progress, settings=chosen_settings, **metadata(ctx))

        choice = gguf_chat_template_for(made, ctx.base.model_type, ctx.service("served_chat"))
        convert(choice.template if choice else None)
        info: dict[str, Any] = {"file": out_file.name, "type": outtype.upper()}
        if choice:
            kept, dropped = choice.proof(ctx.services, out_file)
            if written(kept) != written(choice.template):  # another candidate, or the checkpoint's own after all
                convert(kept)
                if kept is not None and (dropped := choice.holds(ctx.services, out_file, kept)):
                    convert(None)  # proven from a file, not in the GGUF: the checkpoint's own after all
            if dropped:
                ctx.progress.message(dropped)
                info[TEMPLATE_NOTE] = dropped
        projector = ctx.out_dir / f"{PROJECTOR_PREFIX}{out_file.name}"  # a vision-language model's tower, lossless too
        if converter.convert_projector(merged, projector, outtype=outtype, progress=ctx.progress, **metadata(ctx)):
            info["projector"] = projector.name
        (ctx.out_dir / INTERMEDIATE_INFO).write_text(json.dumps(info))

    def usage(self, repo_or_path: str) -> str:
        return ""
