"""Turn use-case results into text for people (rich) or JSON for programs.

Tables fit 80 columns without cutting a name: long values (paths) fold onto the next line instead.
Lines a user may copy (the `ollama create` command) are printed plain, unwrapped, each on its own line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
from rich.console import Console
from rich.table import Table

from hubship.application.execute_plan import PublishResult
from hubship.application.planned_publish import PlannedPublish
from hubship.application.settings import DEFAULT, ENV, FLAG, Setting
from hubship.application.verify_publication import VerifyReport
from hubship.domain.checkpoint import BaseInfo
from hubship.domain.lineage import NamedId
from hubship.domain.units import human_bytes
from hubship.entrypoints.configured_command import flatten_table

out = Console(soft_wrap=True)
NOT_SETTINGS = ("json", "quiet")  # how to print, not what to publish: left out of the settings table
INTERNAL_MARK = " *"


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def make_table(*columns: str, fold: tuple[str, ...] = (), title: str | None = None) -> Table:
    """A table whose `fold` columns wrap long values onto the next line and whose other columns never wrap."""
    table = Table(title=title)
    for name in columns:
        if name in fold:
            table.add_column(name, overflow="fold")
        else:
            table.add_column(name, no_wrap=True)
    return table


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
        "backend": attrs.asdict(planned.backend) if planned.backend else None,
        "yardstick": {"base": planned.yardstick.name or None, **attrs.asdict(planned.yardstick_cost)},  # counted in disk_needed
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


def yardstick_line(planned: PlannedPublish) -> str | None:
    """One line on the base yardstick's possible cost (disk and time), or why there is none; None when no format
    has a default loss bound to hold against the base."""
    cost = planned.yardstick_cost
    if not cost.formats:
        return None
    formats = ", ".join(cost.formats)
    if cost.unavailable:
        return f"no base yardstick for {formats} ({cost.unavailable}): the absolute quality bounds decide alone"
    if not cost.steps:
        return f"base yardstick for {formats}: {planned.yardstick.name}'s figures are in the workspace (nothing more to build)"
    return (
        f"if a default quality bound is breached, the base yardstick builds {', '.join(cost.steps)} from"
        f" {planned.yardstick.name} too: {human_bytes(cost.size_bytes)} more disk (counted below) and about the time"
        " of those steps here"
    )


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


def _setting_text(value: Any) -> str:
    """A setting as typed: lists comma-separated, a config table as `FORMAT.METRIC=VALUE` items, `-` for unset."""
    if value in (None, [], (), {}):
        return "-"
    if isinstance(value, dict):
        return ", ".join(flatten_table(value))
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def show_settings(settings: Mapping[str, Setting], resolved: Mapping[str, Any]) -> None:
    data = settings_data(settings, resolved)
    files = sorted({item["origin"] for item in data.values()} - {FLAG, DEFAULT, ENV})
    table = make_table("setting", "value", "from", fold=("value",), title="settings")
    for name, item in data.items():
        if name in NOT_SETTINGS:
            continue
        value = _setting_text(item["value"])
        shown = f"{value} (uses {item['resolved']})" if "resolved" in item else value
        table.add_row(name, shown, item["origin"] if item["origin"] in (FLAG, DEFAULT, ENV) else "config")
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
    if planned.backend:
        out.print(f"merges with {planned.backend.name} ({planned.backend.reason})", highlight=False)
    if line := yardstick_line(planned):
        out.print(line, highlight=False)
    table = make_table("artifact", "built from", "size", "memory", "status", fold=("built from",))
    for n in plan.nodes:
        status = "[green]up to date[/green]" if n.up_to_date else "[yellow]build[/yellow]"
        name = n.format if n.requested else f"{n.format}{INTERNAL_MARK}"
        table.add_row(
            name, _built_from(n.builds_from), human_bytes(n.estimate.size_bytes), human_bytes(n.estimate.peak_memory_bytes), status
        )
    out.print(table)
    if any(not n.requested for n in plan.nodes):
        out.print(f"{INTERNAL_MARK.strip()} built to make the others, not published; memory: the step's estimated peak")
    targets = make_table("destination", "artifact", "location", "status", fold=("destination", "location"))
    for i, t in enumerate(planned.targets):
        first = i == 0 or planned.targets[i - 1].destination != t.destination  # each destination named once
        status = "[green]up to date[/green]" if t.up_to_date else "[yellow]publish[/yellow]"
        targets.add_row(t.destination if first else "", t.format, t.location, status)
    out.print(targets)
    for t in planned.targets:
        if t.fallback:
            out.print(f"{t.destination}: if no server answers, {t.format} goes to {t.fallback}", highlight=False)
    out.print(
        f"needs {human_bytes(planned.disk_needed_bytes)} disk (free {human_bytes(planned.disk_free_bytes)}),"
        f" {human_bytes(planned.memory_needed_bytes)} memory (free {human_bytes(planned.memory_free_bytes)})"
    )
    if planned.memory_free_bytes and planned.memory_needed_bytes > planned.memory_free_bytes:
        out.print("[yellow]warning:[/yellow] the largest step may need more memory than is free now; it may swap or be killed")


def result_data(result: PublishResult) -> dict[str, Any]:
    return {
        "plan": plan_data(result.planned),
        "artifacts": [attrs.asdict(a) for a in result.artifacts],
        "published": list(result.published),
        "up_to_date": list(result.skipped),
        "outcomes": [attrs.asdict(o) | {"quality": o.quality} for o in result.outcomes],
    }


def show_result(result: PublishResult) -> None:
    """One line per artifact and destination (where, size, figures against thresholds), then the commands to run."""
    for outcome in result.outcomes:
        out.print(outcome.line(), highlight=False, markup=False)
    show_commands(result)


def show_commands(result: PublishResult) -> None:
    """Each command the user must run to finish (e.g. `ollama create ...`), alone on its line, plain, unwrapped."""
    for command in dict.fromkeys(o.command for o in result.outcomes if o.command):
        print(command, flush=True)


def show_verify(report: VerifyReport) -> None:
    for folder in report.checked:
        out.print(f"checked {folder}", highlight=False)
    for problem in report.problems:
        out.print(f"[red]mismatch[/red] {problem}", highlight=False)
    out.print("[green]all files match their manifests[/green]" if report.ok else "[red]verification failed[/red]")
