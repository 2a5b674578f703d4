"""Use case: turn a publish request into a keyed DAG, with each node's and destination's status.

Runs in seconds and loads no weights, so a user sees sizes, memory and disk needs, and any
preflight error, before hours of work start.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.application.format_registry import FormatRegistry
from hubship.application.publish_request import PublishRequest, derived_name
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.destination import Destination, parse_destination, parse_destinations
from hubship.domain.errors import UserInputError
from hubship.domain.plan import PublishPlan, build_plan, content_key, format_closure
from hubship.domain.preflight import DiskDemand, check_disk, check_path_length
from hubship.domain.training_method import parse_method
from hubship.ports.checkpoint_reader import CheckpointReader
from hubship.ports.file_hasher import FileHasher
from hubship.ports.model_loader import ModelLoader
from hubship.ports.progress import Progress
from hubship.ports.registry import ChoosesFormats, Registry
from hubship.ports.system_probe import SystemProbe
from hubship.ports.workspace import Workspace

WORKSPACE_FIX = "free space or pass --workspace on a bigger disk"


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
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self._services = services or {}  # ports a format's `preflight` may use (e.g. a converter), made on first use
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

    def _preflight(self, plan: PublishPlan, targets: tuple[Target, ...]) -> tuple[int, int]:
        """Refuse a plan that cannot fit: disk for the workspace and each local destination, Windows path lengths.

        A `dir:` destination on the workspace's disk costs no space: artifacts are hard-linked from the workspace.
        Returns the workspace's (needed, free) bytes.
        """
        probe, root = self._probe, self._workspace.root
        os_name, long_paths = probe.os_name(), probe.long_paths_supported()
        check_path_length(
            str(self._workspace.path(plan.source_key)), os_name=os_name, long_paths=long_paths, fix="pass a shorter --workspace"
        )
        volume = probe.volume_id(root)
        needed, free = sum(n.estimate.size_bytes for n in plan.to_build), probe.free_disk_bytes(root)
        demands = {"": DiskDemand(place=f"the workspace {root}", volume=volume, free_bytes=free, needed_bytes=needed, fix=WORKSPACE_FIX)}
        for target in targets:
            if parse_destination(target.destination).scheme != "dir":
                continue
            location = Path(target.location)
            check_path_length(str(location), os_name=os_name, long_paths=long_paths, fix="publish to a shorter --to dir: path")
            if target.up_to_date or probe.volume_id(location) == volume:
                continue
            known = demands.get(target.destination)
            demands[target.destination] = DiskDemand(
                place=f"destination {target.destination}",
                volume=probe.volume_id(location),
                free_bytes=probe.free_disk_bytes(location),
                needed_bytes=(known.needed_bytes if known else 0) + plan.node(target.format).estimate.size_bytes,
                fix="free space there or publish to another folder",
            )
        check_disk(demands.values())
        return needed, free

    def _chosen_formats(self, request: PublishRequest) -> dict[Destination, tuple[str, ...]]:
        """The formats each destination picks itself (Ollama: its one GGUF); empty means the requested ones."""
        chosen = {}
        for dest in parse_destinations(request.destinations):
            registry = self._registry(dest.scheme)
            chosen[dest] = registry.formats_for(dest, request.merged_options()) if isinstance(registry, ChoosesFormats) else ()
        return chosen

    def execute(self, request: PublishRequest) -> PlannedPublish:
        chosen = self._chosen_formats(request)
        requested = self._formats.parse(request.formats) if request.formats or not all(chosen.values()) else ()
        fmt_names = tuple(dict.fromkeys([*(f for fs in chosen.values() for f in fs), *requested]))
        destinations = tuple(  # each registry sees the publish's options and the formats it publishes
            attrs.evolve(d, options={**request.merged_options(), "formats": fs or requested}) for d, fs in chosen.items()
        )
        registries = {d: self._registry(d.scheme) for d in destinations}
        checkpoint = self._reader.read(Path(request.checkpoint), request.base)
        if request.option("method"):  # --method wins over what the checkpoint's files say
            checkpoint = attrs.evolve(checkpoint, training_method=parse_method(request.option("method")))
        self._workspace.prepare()
        base = self._loader.base_info(checkpoint.base)
        self._loader.check_compatible(checkpoint, base)
        for dest, registry in registries.items():
            registry.check(dest)
        name = request.name or derived_name(request.checkpoint, checkpoint.training_method)
        options = {**request.merged_options(), "name": name}  # a format may write the name into its files
        formats = self._formats.formats
        params, estimates = {}, {}
        for fmt_name in format_closure(fmt_names, formats):
            builder = self._formats.get(fmt_name)
            params[fmt_name] = builder.params(options, base)
            builder.check(checkpoint, base, params[fmt_name])
            estimates[fmt_name] = builder.estimate(checkpoint, base, params[fmt_name])
        for fmt_name in params:  # checks that run a tool (seconds), once every quick check has passed
            preflight = getattr(self._formats.get(fmt_name), "preflight", None)
            if preflight is not None:
                preflight(checkpoint, base, params[fmt_name], self._services)
        inputs = self._hash_inputs(checkpoint, base)
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
            if node.format in dest.options["formats"]
        )
        disk_needed, disk_free = self._preflight(plan, targets)
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
