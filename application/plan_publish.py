"""Use case: turn a publish request into a keyed DAG, with each node's and destination's status.

Runs in seconds and loads no weights, so a user sees sizes, memory and disk needs, and any
preflight error, before hours of work start.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from hubship.application.format_registry import FormatRegistry
from hubship.application.publish_request import PublishRequest, default_name
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.destination import parse_destinations
from hubship.domain.errors import UserInputError
from hubship.domain.plan import PublishPlan, build_plan, content_key, format_closure
from hubship.ports.checkpoint_reader import CheckpointReader
from hubship.ports.file_hasher import FileHasher
from hubship.ports.model_loader import ModelLoader
from hubship.ports.progress import Progress
from hubship.ports.registry import Registry
from hubship.ports.system_probe import SystemProbe
from hubship.ports.workspace import Workspace


@attrs.frozen(kw_only=True)
class Target:
    destination: str
    format: str
    location: str
    up_to_date: bool


@attrs.frozen(kw_only=True)
class PlannedPublish:
    plan: PublishPlan
    checkpoint: Checkpoint
    base: BaseInfo
    inputs: dict[str, dict[str, str]]
    targets: tuple[Target, ...]
    disk_needed_bytes: int
    disk_free_bytes: int
    memory_needed_bytes: int
    memory_free_bytes: int
    options: dict[str, object]


class PlanPublish:
    def __init__(
        self,
        reader: CheckpointReader,
        loader: ModelLoader,
        hasher: FileHasher,
        workspace: Workspace,
        formats: FormatRegistry,
        registries: dict[str, Registry],
        probe: SystemProbe,
        progress: Progress,
    ) -> None:
        self._reader = reader
        self._loader = loader
        self._hasher = hasher
        self._workspace = workspace
        self._formats = formats
        self._registries = registries
        self._probe = probe
        self._progress = progress

    def _registry(self, scheme: str) -> Registry:
        try:
            return self._registries[scheme]
        except KeyError:
            raise UserInputError(f"destination {scheme}: is not available in this installation") from None

    def _hash_inputs(self, checkpoint: Checkpoint, base: BaseInfo) -> dict[str, dict[str, str]]:
        ckpt_root = Path(checkpoint.root)
        base_root = Path(base.path)
        ckpt_files = sorted(set(checkpoint.files))
        base_files = sorted(p.name for p in base_root.iterdir() if p.is_file() and not p.name.startswith("."))
        total = len(ckpt_files) + len(base_files)
        result: dict[str, dict[str, str]] = {"checkpoint": {}, "base": {}}
        with self._progress.task("hash inputs", total=total, unit="files") as task:
            for group, root, names in (("checkpoint", ckpt_root, ckpt_files), ("base", base_root, base_files)):
                for name in names:
                    result[group][name] = self._hasher.hash_file(root / name).sha256
                    task.advance()
        return result

    def execute(self, request: PublishRequest) -> PlannedPublish:
        fmt_names = self._formats.parse(request.formats)
        destinations = parse_destinations(request.destinations)
        registries = {d: self._registry(d.scheme) for d in destinations}
        checkpoint = self._reader.read(Path(request.checkpoint), request.base)
        self._workspace.prepare()
        base = self._loader.base_info(checkpoint.base)
        self._loader.check_compatible(checkpoint, base)
        for dest, registry in registries.items():
            registry.check(dest)
        options = request.merged_options()
        formats = self._formats.formats
        params, estimates = {}, {}
        for fmt_name in format_closure(fmt_names, formats):
            builder = self._formats.get(fmt_name)
            params[fmt_name] = builder.params(options, base)
            builder.check(checkpoint, base, params[fmt_name])
            estimates[fmt_name] = builder.estimate(checkpoint, base, params[fmt_name])
        inputs = self._hash_inputs(checkpoint, base)
        name = request.name or default_name(request.checkpoint)
        plan = build_plan(
            name=name,
            checkpoint=checkpoint.root,
            base=checkpoint.base.display,
            source_key=content_key(inputs),
            requested=fmt_names,
            formats=formats,
            params=params,
            tool_versions=self._probe.tool_versions(),
            destinations=destinations,
            estimates=estimates,
        )
        plan = plan.with_status(frozenset(n.spec.key for n in plan.nodes if self._workspace.has(n.spec.key)))
        targets = tuple(
            Target(
                destination=str(dest),
                format=node.format,
                location=registry.locate(dest, name, node.format),
                up_to_date=registry.is_published(dest, name, node.format, node.spec.key),
            )
            for dest, registry in registries.items()
            for node in plan.requested
        )
        disk_needed = sum(n.estimate.size_bytes for n in plan.to_build)
        disk_free = self._probe.free_disk_bytes(self._workspace.root)
        if disk_needed > disk_free:
            raise UserInputError(
                f"the plan needs {disk_needed / 1e9:.1f} GB in the workspace {self._workspace.root} but only"
                f" {disk_free / 1e9:.1f} GB are free; free space or pass --workspace on a bigger disk"
            )
        return PlannedPublish(
            plan=plan,
            checkpoint=checkpoint,
            base=base,
            inputs=inputs,
            targets=targets,
            disk_needed_bytes=disk_needed,
            disk_free_bytes=disk_free,
            memory_needed_bytes=max((n.estimate.peak_memory_bytes for n in plan.to_build), default=0),
            memory_free_bytes=self._probe.free_memory_bytes(),
            options=options,
        )
