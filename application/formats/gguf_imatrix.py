"""`gguf-imatrix` (internal): the publish's importance matrix, computed once from the intermediate and used by every
quantization that wants one (domain/imatrix.py decides which).

Its content key covers the merged model (through the intermediate's key), the calibration files'
sha256 (or the given imatrix file's) and the tools' version, so it is recomputed when, and only when,
one of those changes. The build writes `<name>.imatrix.gguf` and `IMATRIX_INFO`: the file's name (None
when no imatrix could be made: llama.cpp's tools are not installed, which only the types that need
one refuse at plan time), and what it was made from. The calibration text it read stays beside it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.application.format_builder import BuildContext
from hubship.application.formats.gguf_common import INTERMEDIATE, INTERMEDIATE_INFO, TOOLS, GgufBase
from hubship.application.formats.imatrix_calibration import (
    calibration_options,
    calibration_params,
    load_calibration,
    render_calibration,
)
from hubship.application.formats.memory import imatrix_step
from hubship.application.formats.sizes import n_params
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.imatrix import FILE, IMATRIX_SUFFIX, mistyped_mode, parse_imatrix_option
from hubship.domain.plan import Estimate

IMATRIX = "gguf-imatrix"
IMATRIX_INFO = ".gguf-imatrix.json"
IMATRIX_TOOLS = (*TOOLS, "llama_cpp_tools")
CALIBRATION_FILE = "calibration.txt"
GGUF_MAGIC = b"GGUF"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_imatrix(folder: Path | None) -> tuple[Path | None, dict[str, Any]]:
    """(the imatrix file, or None when none was made; what it was made from) of a built `gguf-imatrix`."""
    if folder is None or not (folder / IMATRIX_INFO).is_file():
        return None, {}
    info = json.loads((folder / IMATRIX_INFO).read_text())
    return (folder / info["file"] if info.get("file") else None), info


class GgufImatrixFormat(GgufBase):
    """The importance matrix of the merged model over calibration text, by llama.cpp's `llama-imatrix` (internal)."""

    format = Format(
        name=IMATRIX,
        relation="quantized",
        description="The importance matrix of the merged model, which low-bit quantizations are made with",
        builds_from=(INTERMEDIATE,),
        library_name="gguf",
        tools=IMATRIX_TOOLS,
        internal=True,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        option = parse_imatrix_option(options.get("imatrix"))
        if option.mode == FILE:
            path = Path(str(option.path)).expanduser()
            source = {"imatrix_file": str(path.absolute()), "sha256": _sha256(path) if path.is_file() else None}
        else:
            source = calibration_params(options)
        return {**super().params(options, base), **source}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        if "imatrix_file" in params and params["sha256"] is None:
            meant = mistyped_mode(Path(params["imatrix_file"]).name)
            hint = f"did you mean --imatrix {meant}? or " if meant else ""
            raise UserInputError(
                f"imatrix file {params['imatrix_file']} does not exist; {hint}pass --imatrix with an imatrix file, or auto or off"
            )
        if "calibration" in params:
            load_calibration(calibration_options(params))  # a file that is not calibration text fails here

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        super().preflight(checkpoint, base, params, services)
        if "imatrix_file" in params:
            services["imatrix_tools"].check()
            services["imatrix_tools"].check_imatrix(Path(params["imatrix_file"]))
        elif params["calibration_path"]:  # the user's conversations must render through the template
            calibration = load_calibration(calibration_options(params))
            render_calibration(calibration, checkpoint, base, services["chat_renderer"], strict=True)

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = n_params(base) // 500  # about 8 bytes per input column of each matrix
        return Estimate(size_bytes=size, peak_memory_bytes=imatrix_step(base))

    def build(self, ctx: BuildContext) -> None:
        out_file = ctx.out_dir / f"{ctx.params['name']}{IMATRIX_SUFFIX}"
        info: dict[str, Any] = {"file": out_file.name}
        tools = ctx.service("imatrix_tools")
        if "imatrix_file" in ctx.params:
            given = Path(ctx.params["imatrix_file"])
            if _sha256(given) != ctx.params["sha256"]:
                raise UserInputError(f"imatrix file {given} changed since the plan was made; run the publish again")
            with given.open("rb") as fh:
                is_gguf = fh.read(4) == GGUF_MAGIC
            if is_gguf:
                shutil.copyfile(given, out_file)
            else:  # the legacy .dat format: llama-imatrix re-saves it as GGUF
                tools.convert_legacy(given, out_file, progress=ctx.progress)
            info["source"] = f"the given file `{given.name}`"
        elif tools.version() is None:
            info = {"file": None, "reason": "llama.cpp's tools (llama-imatrix, llama-quantize) are not installed; run `make setup`"}
        else:
            calibration = load_calibration(calibration_options(ctx.params))
            text = render_calibration(
                calibration, ctx.checkpoint, ctx.base, ctx.service("chat_renderer"), strict=bool(ctx.params["calibration_path"])
            )
            (ctx.out_dir / CALIBRATION_FILE).write_text(text, encoding="utf-8")
            source = json.loads((ctx.inputs[INTERMEDIATE] / INTERMEDIATE_INFO).read_text())
            figures = tools.compute(
                ctx.inputs[INTERMEDIATE] / source["file"], ctx.out_dir / CALIBRATION_FILE, out_file, progress=ctx.progress
            )
            info |= {"source": ctx.params["calibration_label"], **figures}
        (ctx.out_dir / IMATRIX_INFO).write_text(json.dumps(info, sort_keys=True))

    def usage(self, repo_or_path: str) -> str:
        return ""
