"""GGUF formats: `gguf-<quant>` for every quantization llama.cpp makes, and `gguf-lora`.

One internal `gguf-intermediate` (the merged model converted once, losslessly: f32, f16 or bf16 as
the merged model is) feeds every `gguf-<quant>`: each is made from it with llama.cpp's quantizer,
and a `gguf-f16`/`gguf-bf16` of the intermediate's own type is a link to it, not a second copy.
The plan checks the converter supports the architecture and the tokenizer (`preflight`) before
any merge starts. When the internal `reference-logits` format is in the plan, each quantization
is measured against it (KL, top-1) under per-quantization default thresholds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs

from hubship.application.format_builder import BuildContext
from hubship.application.format_registry import ENTRY_POINT_GROUP
from hubship.application.formats.merged_16bit import Merged16bitFormat
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.domain.quality import VERIFICATION_FILE
from hubship.ports.verifier import REFERENCE_FILE

INTERMEDIATE = "gguf-intermediate"
REFERENCE = "reference-logits"
INTERMEDIATE_INFO = ".gguf-intermediate.json"
TOOLS = ("llama_cpp_python",)
OUTTYPES = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}  # merged dtype -> lossless GGUF type
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@attrs.frozen(kw_only=True)
class Quant:
    """A llama.cpp quantization: its type name, about how many bits per weight, the default KL bound."""

    name: str
    bpw: float
    kl_max: float
    needs_imatrix: bool = False

    @property
    def format_name(self) -> str:
        return f"gguf-{self.name.lower()}"


def _q(name: str, bpw: float, kl_max: float, needs_imatrix: bool = False) -> Quant:
    return Quant(name=name, bpw=bpw, kl_max=kl_max, needs_imatrix=needs_imatrix)


# Default gate: mean KL(reference || GGUF) per position, a generous bound for a sound conversion
# (typical values are several times lower), so a breach means something broke. Top-1 agreement is
# measured and reported but not gated by default: on high-entropy positions near-ties flip under
# any rounding. Users set their own bounds through the `thresholds` option.
QUANTS = (
    _q("F16", 16.0, 5e-3),
    _q("BF16", 16.0, 5e-3),
    _q("Q8_0", 8.5, 0.01),
    _q("Q6_K", 6.56, 0.03),
    _q("Q5_K_M", 5.69, 0.06),
    _q("Q5_K_S", 5.54, 0.07),
    _q("Q5_1", 6.0, 0.07),
    _q("Q5_0", 5.5, 0.08),
    _q("Q4_K_M", 4.89, 0.12),
    _q("Q4_K_S", 4.58, 0.15),
    _q("Q4_1", 5.0, 0.15),
    _q("Q4_0", 4.5, 0.2),
    _q("IQ4_XS", 4.25, 0.15),
    _q("IQ4_NL", 4.5, 0.15),
    _q("Q3_K_L", 4.27, 0.3),
    _q("Q3_K_M", 3.91, 0.35),
    _q("Q3_K_S", 3.5, 0.5),
    _q("IQ3_M", 3.66, 0.35),
    _q("IQ3_S", 3.44, 0.4),
    _q("IQ3_XS", 3.3, 0.5),
    _q("IQ3_XXS", 3.06, 0.6),
    _q("Q2_K", 2.96, 1.0),
    _q("Q2_K_S", 2.7, 1.2, needs_imatrix=True),
    _q("IQ2_M", 2.7, 1.2, needs_imatrix=True),
    _q("IQ2_S", 2.5, 1.3, needs_imatrix=True),
    _q("IQ2_XS", 2.31, 1.5, needs_imatrix=True),
    _q("IQ2_XXS", 2.06, 1.8, needs_imatrix=True),
    _q("IQ1_M", 1.75, 2.5, needs_imatrix=True),
    _q("IQ1_S", 1.56, 3.0, needs_imatrix=True),
)


def _n_params(base: BaseInfo) -> int:
    return base.parameter_bytes // BYTES.get(base.dtype, 2)


def _metadata(ctx: BuildContext) -> dict[str, Any]:
    base_ref = ctx.checkpoint.base
    return {"name": ctx.params["name"], "base_model": base_ref.card_id or base_ref.public_name, "license": ctx.params["license"]}


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class _Preflight:
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


class _GgufBase:
    """What every GGUF format shares: the publish name and license in params, the converter preflight."""

    format: Format

    def __init__(self, preflight: _Preflight) -> None:
        self._preflight = preflight

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {"name": str(options.get("name") or "model"), "license": base.license}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        return None

    def preflight(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any], services: Mapping[str, Any]) -> None:
        self._preflight.run(checkpoint, base, services)


class GgufIntermediateFormat(_GgufBase):
    """The merged model as one lossless GGUF, converted once by llama.cpp's converter (internal)."""

    format = Format(
        name=INTERMEDIATE,
        relation="quantized",
        description="The merged model converted to GGUF without loss, the source of every quantization",
        builds_from=("merged-16bit",),
        library_name="gguf",
        tools=TOOLS,
        internal=True,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        dtype = Merged16bitFormat().params(options, base)["dtype"]
        return {**super().params(options, base), "outtype": OUTTYPES[dtype]}

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        size = _n_params(base) * (4 if params["outtype"] == "f32" else 2)
        return Estimate(size_bytes=size, peak_memory_bytes=min(size, 2 * 1000**3))

    def build(self, ctx: BuildContext) -> None:
        outtype = ctx.params["outtype"]
        out_file = ctx.out_dir / f"{ctx.params['name']}.{outtype.upper()}.gguf"
        ctx.service("converter").convert(ctx.inputs["merged-16bit"], out_file, outtype=outtype, progress=ctx.progress, **_metadata(ctx))
        (ctx.out_dir / INTERMEDIATE_INFO).write_text(json.dumps({"file": out_file.name, "type": outtype.upper()}))

    def usage(self, repo_or_path: str) -> str:
        return ""


class GgufQuantFormat(_GgufBase):
    """`gguf-<quant>`: the intermediate quantized by llama.cpp, split above --gguf-split-max-size, measured."""

    def __init__(self, quant: Quant, preflight: _Preflight, with_reference: bool) -> None:
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
        size = int(_n_params(base) * self.quant.bpw / 8)
        return Estimate(size_bytes=size, peak_memory_bytes=size)  # verification maps the whole file

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


class GgufLoraFormat(_GgufBase):
    """`gguf-lora`: the adapter as a GGUF LoRA (llama.cpp's LoRA converter), for runtimes that load base + adapter."""

    format = Format(
        name="gguf-lora",
        relation="adapter",
        description="The LoRA adapter in GGUF, to load with its base model in llama.cpp or Ollama",
        library_name="gguf",
        tools=TOOLS,
    )

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        return {**super().params(options, base), "outtype": "f16"}

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        config = checkpoint.adapter_config
        unsupported = [
            label
            for label, present in (
                (f"a {checkpoint.peft_type} adapter", checkpoint.peft_type != "LORA"),
                ("DoRA (use_dora)", bool(config.get("use_dora"))),
                ("rsLoRA scaling (use_rslora)", bool(config.get("use_rslora"))),
                ("per-module alphas (alpha_pattern)", bool(config.get("alpha_pattern"))),
                ("fully trained modules (modules_to_save)", bool(config.get("modules_to_save"))),
            )
            if present
        ]
        if unsupported:
            raise UserInputError(
                f"gguf-lora cannot express {', '.join(unsupported)} (llama.cpp applies plain LoRA only);"
                " publish a merged GGUF such as gguf-q8_0 instead"
            )

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate:
        return Estimate(size_bytes=checkpoint.adapter_bytes, peak_memory_bytes=2 * checkpoint.adapter_bytes)

    def build(self, ctx: BuildContext) -> None:
        out_file = ctx.out_dir / f"{ctx.params['name']}.LoRA-{ctx.params['outtype'].upper()}.gguf"
        ctx.service("converter").convert_lora(
            Path(ctx.checkpoint.root),
            Path(ctx.base.path),
            out_file,
            outtype=ctx.params["outtype"],
            progress=ctx.progress,
            **_metadata(ctx),
        )

    def usage(self, repo_or_path: str) -> str:
        return (
            "```sh\n"
            "# with the base model in GGUF (e.g. its F16 or Q8_0 file)\n"
            f"llama-cli -m base.gguf --lora {repo_or_path}/<name>.LoRA-F16.gguf\n"
            "```\n\nIn Ollama: `FROM <base model>` and `ADAPTER ./<name>.LoRA-F16.gguf` in a Modelfile."
        )


def _reference_registered() -> bool:
    return any(ep.name == REFERENCE for ep in entry_points(group=ENTRY_POINT_GROUP))


def gguf_formats() -> list[Any]:
    """The GGUF family (entry point `gguf`): the intermediate, gguf-lora and one format per quantization."""
    preflight = _Preflight()
    with_reference = _reference_registered()
    return [
        GgufIntermediateFormat(preflight),
        GgufLoraFormat(preflight),
        *(GgufQuantFormat(q, preflight, with_reference) for q in QUANTS),
    ]
