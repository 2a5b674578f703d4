"""Turn use-case results into text for people (rich) or JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from hubship.application.execute_plan import PublishResult
from hubship.application.inspect_checkpoint import Inspection
from hubship.application.plan_publish import PlannedPublish
from hubship.application.settings import DEFAULT, FLAG, Setting
from hubship.application.verify_publication import VerifyReport
from hubship.domain.checkpoint import BaseInfo
from hubship.domain.lineage import NamedId

out = Console(soft_wrap=True)


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def plan_data(planned: PlannedPublish) -> dict[str, Any]:
    plan = planned.plan
    return {
        "name": plan.name,
        "name_origin": planned.name_origin,
        "checkpoint": plan.checkpoint,
        "base": plan.base,
        "kind": planned.checkpoint.kind,
        "checkpoint_choice": planned.checkpoint.selection,
        "lineage": lineage_data(planned.base),
        "merge": planned.merge,
        "training_method": planned.checkpoint.training_method,
        "nodes": [
            {
                "format": n.format,
                "key": n.spec.key,
                "builds_from": list(n.builds_from),
                "requested": n.requested,
                "status": "up to date" if n.up_to_date else "build",
                "params": dict(n.spec.params),
                "size_bytes": n.estimate.size_bytes,
                "peak_memory_bytes": n.estimate.peak_memory_bytes,
            }
            for n in plan.nodes
        ],
        "targets": [attrs.asdict(t) for t in planned.targets],
        "resources": {
            "disk_needed_bytes": planned.disk_needed_bytes,
            "disk_free_bytes": planned.disk_free_bytes,
            "memory_needed_bytes": planned.memory_needed_bytes,
            "memory_free_bytes": planned.memory_free_bytes,
        },
        "options": planned.options,
    }


def lineage_data(base: BaseInfo) -> dict[str, Any]:
    """The hub ids a publication names, each with where it came from, and the base's quantization."""
    lineage = base.lineage

    def named(value: NamedId | None) -> dict[str, str] | None:
        return {"id": value.id, "from": value.source} if value else None

    return {
        "base_id": named(lineage.base),
        "upstream": named(lineage.upstream),
        "trained_on": named(lineage.trained_on),
        "quantization": base.quantization.label if base.quantization else None,
        "notes": list(lineage.notes),
    }


def settings_data(settings: Mapping[str, Setting], resolved: Mapping[str, Any]) -> dict[str, Any]:
    """{option: {value, origin[, resolved]}}: the effective settings and where each came from."""
    data: dict[str, Any] = {}
    for name, setting in sorted(settings.items()):
        data[name] = {"value": setting.value, "origin": setting.origin}
        if name in resolved and resolved[name] != setting.value:
            data[name]["resolved"] = resolved[name]
    return data


def show_settings(settings: Mapping[str, Setting], resolved: Mapping[str, Any]) -> None:
    data = settings_data(settings, resolved)
    files = sorted({item["origin"] for item in data.values()} - {FLAG, DEFAULT})
    table = Table("setting", "value", "from", title="settings")
    for name, item in data.items():
        value = "-" if item["value"] in (None, [], ()) else item["value"]
        value = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        shown = f"{value} (uses {item['resolved']})" if "resolved" in item else value
        table.add_row(name, shown, item["origin"] if item["origin"] in (FLAG, DEFAULT) else "config")
    out.print(table)
    out.print(f"config: {files[0]}" if files else "config: none (no hubship.toml in the checkpoint folder or here)", highlight=False)


def _built_from(builds_from: tuple[str, ...]) -> str:
    """What a node is made of (the reference it is checked against is in --json's builds_from)."""
    return ", ".join(d for d in builds_from if d != "reference-logits") or "checkpoint + base"


def show_plan(planned: PlannedPublish) -> None:
    plan = planned.plan
    ckpt, base = planned.checkpoint, planned.base
    what = "full fine-tune" if ckpt.is_full else f"{ckpt.peft_type} adapter"
    out.print(f"[bold]plan[/bold] {plan.name}: {what} from {plan.checkpoint}", highlight=False)
    out.print(f"name {plan.name} (from {planned.name_origin})", highlight=False)
    if ckpt.selection:
        out.print(ckpt.selection, highlight=False)
    held = f", {base.quantization.label}" if base.quantization else ""
    origin = "model" if ckpt.is_full else f"base {plan.base}"
    out.print(f"{origin} ({base.architecture}, {base.dtype}{held}); method {ckpt.training_method}", highlight=False)
    out.print(base.lineage.describe(), highlight=False)
    if planned.merge:
        out.print(planned.merge, highlight=False)
    table = Table("artifact", "built from", "key", "size", "peak memory", "status")
    for n in plan.nodes:
        status = "[green]up to date[/green]" if n.up_to_date else "[yellow]build[/yellow]"
        name = n.format if n.requested else f"{n.format} (intermediate)"
        table.add_row(
            name,
            _built_from(n.builds_from),
            n.spec.key[:12],
            _gb(n.estimate.size_bytes),
            _gb(n.estimate.peak_memory_bytes),
            status,
        )
    out.print(table)
    targets = Table("destination", "artifact", "location", "status")
    for t in planned.targets:
        targets.add_row(t.destination, t.format, t.location, "[green]up to date[/green]" if t.up_to_date else "[yellow]publish[/yellow]")
    out.print(targets)
    for t in planned.targets:
        if t.fallback:
            out.print(f"{t.destination}: if no server answers, {t.format} goes to {t.fallback}", highlight=False)
    out.print(
        f"needs {_gb(planned.disk_needed_bytes)} disk (free {_gb(planned.disk_free_bytes)}),"
        f" {_gb(planned.memory_needed_bytes)} memory (free {_gb(planned.memory_free_bytes)})"
    )
    if planned.memory_free_bytes and planned.memory_needed_bytes > planned.memory_free_bytes:
        out.print("[yellow]warning:[/yellow] the largest step may need more memory than is free now; it may swap or be killed")


def result_data(result: PublishResult) -> dict[str, Any]:
    return {
        "plan": plan_data(result.planned),
        "artifacts": [attrs.asdict(a) for a in result.artifacts],
        "published": list(result.published),
        "up_to_date": list(result.skipped),
    }


def show_result(result: PublishResult) -> None:
    table = Table("artifact", "key", "workspace")
    for a in result.artifacts:
        table.add_row(a.format, a.key[:12], "reused" if a.reused else "built")
    out.print(table)
    for location in result.published:
        out.print(f"[green]published[/green] {location}")
    for location in result.skipped:
        out.print(f"[dim]up to date[/dim] {location}")


ADAPTER_ONLY = ("peft_type", "mergeable", "rank", "target_modules", "adapter_bytes")


def inspection_data(inspection: Inspection) -> dict[str, Any]:
    """What `inspect` reports; a full fine-tune has no adapter fields."""
    ckpt = inspection.checkpoint
    data = {
        "checkpoint": ckpt.root,
        "kind": ckpt.kind,
        "checkpoint_choice": ckpt.selection,
        "peft_type": ckpt.peft_type,
        "mergeable": ckpt.mergeable,
        "rank": ckpt.rank,
        "target_modules": list(ckpt.target_modules),
        "base": ckpt.base.display,
        "base_info": attrs.asdict(inspection.base, filter=lambda a, _: a.name not in ("lineage", "facts")) if inspection.base else None,
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


def show_inspection(inspection: Inspection) -> None:
    data = inspection_data(inspection)
    table = Table("field", "value", show_header=False)
    for key, value in data.items():
        if key not in ("base_info", "lineage"):
            table.add_row(key, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
    if inspection.base:
        table.add_row(
            "base architecture", f"{inspection.base.architecture} ({inspection.base.dtype}, {_gb(inspection.base.parameter_bytes)})"
        )
        table.add_row("base license", str(inspection.base.license))
        if inspection.base.quantization:
            table.add_row("base quantization", inspection.base.quantization.label)
        table.add_row("hub ids", inspection.base.lineage.describe())
    out.print(table)


def show_verify(report: VerifyReport) -> None:
    for folder in report.checked:
        out.print(f"checked {folder}")
    for problem in report.problems:
        out.print(f"[red]mismatch[/red] {problem}")
    out.print("[green]all files match their manifests[/green]" if report.ok else "[red]verification failed[/red]")
