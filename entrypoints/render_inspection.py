"""`hubship inspect` as text for people (rich) or JSON for programs."""

from __future__ import annotations

from typing import Any

import attrs
from rich.table import Table

from hubship.application.inspect_checkpoint import Inspection
from hubship.domain.units import human_bytes
from hubship.entrypoints.render import lineage_data, out

ADAPTER_ONLY = ("peft_type", "mergeable", "rank", "target_modules", "adapter_bytes")


def inspection_data(inspection: Inspection) -> dict[str, Any]:
    """What `inspect` reports; a full fine-tune has no adapter fields."""
    ckpt = inspection.checkpoint
    data = {
        "checkpoint": ckpt.root,
        "kind": ckpt.kind,
        "checkpoint_choice": ckpt.selection,
        "default_name": inspection.default_name,
        "peft_type": ckpt.peft_type,
        "mergeable": ckpt.mergeable,
        "rank": ckpt.rank,
        "target_modules": list(ckpt.target_modules),
        "base": ckpt.base.display,
        "base_info": attrs.asdict(inspection.base, filter=lambda a, _: a.name not in ("lineage", "facts", "tensors"))
        if inspection.base
        else None,
        "lineage": lineage_data(inspection.base) if inspection.base else None,
        "base_problem": inspection.base_problem,
        "training_method": ckpt.training_method,
        "tokenizer_files": list(ckpt.tokenizer_files),
        "chat_template": ckpt.chat_template is not None,
        "generation_config": ckpt.generation_config is not None,
        "trainer_state": ckpt.trainer_state is not None,
        "datasets": list(ckpt.datasets),
        "adapter_bytes": ckpt.adapter_bytes,
    }
    return {k: v for k, v in data.items() if not (ckpt.is_full and k in ADAPTER_ONLY)}


def inspection_rows(inspection: Inspection) -> list[tuple[str, str]]:
    """(field, value) rows for people: human units, yes/no, and no row for what is empty or unknown."""
    ckpt, base = inspection.checkpoint, inspection.base
    rows = [
        ("checkpoint", ckpt.root),
        ("kind", ckpt.kind),
        ("checkpoint choice", ckpt.selection or ""),
        ("publish name", f"{inspection.default_name} (from the folder; --name sets another)"),
    ]
    if not ckpt.is_full:
        rows += [
            ("adapter", f"{ckpt.peft_type}, r={ckpt.rank}" if ckpt.rank is not None else ckpt.peft_type),
            ("adapter size", human_bytes(ckpt.adapter_bytes)),
            ("target modules", ", ".join(ckpt.target_modules)),
            ("mergeable", "yes" if ckpt.mergeable else "no (publish it with --format lora)"),
        ]
    rows += [
        ("training method", ckpt.training_method),
        ("datasets", ", ".join(ckpt.datasets)),
        ("tokenizer files", ", ".join(ckpt.tokenizer_files)),
        ("chat template", "yes" if ckpt.chat_template is not None else "no"),
        ("generation config", "yes" if ckpt.generation_config is not None else "no"),
        ("trainer state", "yes" if ckpt.trainer_state is not None else "no"),
        ("base", ckpt.base.display),
        ("base problem", inspection.base_problem or ""),
    ]
    if base is not None:
        rows += [
            ("base architecture", f"{base.architecture} ({base.dtype}, {human_bytes(base.parameter_bytes)} of weights)"),
            ("base license", base.license or ""),
            ("base quantization", base.quantization.label if base.quantization else ""),
            ("hub ids", base.lineage.describe()),
        ]
    return [(field, value) for field, value in rows if value not in ("", "None")]


def show_inspection(inspection: Inspection) -> None:
    table = Table("field", "value", show_header=False)
    table.columns[0].no_wrap = True
    table.columns[1].overflow = "fold"
    for field, value in inspection_rows(inspection):
        table.add_row(field, value)
    out.print(table, highlight=False)
