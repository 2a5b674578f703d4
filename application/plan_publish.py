"""Use case: turn a publish request into a keyed DAG, with each node's and destination's status.

Runs in seconds and loads no weights, so a user sees sizes, memory and disk needs, and any
preflight error, before hours of work start. It also decides who merges (`Backends.choose`, per checkpoint) and
what a breached default quality bound could add (the base yardstick's builds: shown, and counted on disk).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from hubship.application.backend_merger import plan_backend
from hubship.application.base_resolution import merge_line, merge_onto_info, merge_onto_ref, with_lineage, with_merge_onto
from hubship.application.format_registry import FormatRegistry
from hubship.application.planned_publish import PlannedPublish, Target
from hubship.application.publish_request import PublishRequest, derived_name
from hubship.application.yardstick_plan import YardstickSource, within_disk, yardstick_cost, yardstick_formats, yardstick_source
from hubship.domain.backend import Backends
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.destination import Destination, local_folder, parse_destination, parse_destinations
from hubship.domain.errors import QualityGateFailed, UserInputError
from hubship.domain.lineage import require_base_id
from hubship.domain.names import chosen_name, folder_name
from hubship.domain.plan import PlanNode, PublishPlan, build_plan, content_key, format_closure
from hubship.domain.preflight import DiskDemand, check_disk, check_path_length
from hubship.domain.quality import check_threshold_names
from hubship.domain.training_method import parse_method
from hubship.ports.checkpoint_reader import CheckpointReader
from hubship.ports.file_hasher import FileHasher
from hubship.ports.model_loader import ModelLoader
from hubship.ports.progress import Progress
from hubship.ports.registry import ChoosesFormats, FallsBack, Registry
from hubship.ports.system_probe import SystemProbe
from hubship.ports.workspace import Workspace

HASH_THREADS = min(4, os.cpu_count() or 1)
WORKSPACE_FIX = "free space or pass --workspace on a bigger disk"


def _folder(path: str) -> tuple[Path, list[str]]:
    """A folder and the names of its files (hidden ones left out)."""
    return Path(path), sorted(p.name for p in Path(path).iterdir() if p.is_file() and not p.name.startswith("."))


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
        backend: Backends | None = None,
    ) -> None:
        self._backends = backend or Backends()  # who may merge here (the container reads the machine): chosen per checkpoint
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

    def _hash_inputs(self, groups: dict[str, tuple[Path, list[str]]], what: str = "hash inputs") -> dict[str, dict[str, str]]:
        """The sha256 of each group's files (group -> (folder, file names)), by group and name."""
        result: dict[str, dict[str, str]] = {group: {} for group in groups}
        files = [(group, root, name) for group, (root, names) in groups.items() for name in names]
        # files hashed side by side (sha256 releases the GIL): a base's shards take a core each
        with self._progress.task(what, total=len(files), unit="files") as task, ThreadPoolExecutor(HASH_THREADS) as pool:
            for (group, _, name), entry in zip(files, pool.map(lambda f: self._hasher.hash_file(f[1] / f[2]), files), strict=True):
                result[group][name] = entry.sha256
                task.advance()
        return result

    @staticmethod
    def _input_groups(checkpoint: Checkpoint, base: BaseInfo) -> dict[str, tuple[Path, list[str]]]:
        """The input files: the checkpoint's own, and every file of the base folder (none for a full fine-tune,
        which is its own base: its files are the checkpoint's)."""
        groups = {"checkpoint": (Path(checkpoint.root), sorted(set(checkpoint.files)))}
        groups["base"] = (Path(base.path), []) if checkpoint.is_full else _folder(base.path)
        return groups

    def _preflight(self, plan: PublishPlan, targets: tuple[Target, ...]) -> tuple[int, int]:
        """Refuse a plan that cannot fit: disk for the workspace (its nodes) and each local destination, Windows path
        lengths.

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

    def _hash_folder(self, path: str) -> dict[str, str]:
        """The sha256 of each file of a model folder (a full fine-tune's upstream base), by name."""
        return self._hash_inputs({"folder": _folder(path)}, "hash the upstream base")["folder"]

    def _known_hashes(self, groups: dict[str, tuple[Path, list[str]]]) -> dict[str, dict[str, str]] | None:
        """The inputs' hashes when every file is unchanged since it was hashed (stat only), else None."""
        known: dict[str, dict[str, str]] = {group: {} for group in groups}
        for group, (root, names) in groups.items():
            for name in names:
                if (entry := self._hasher.lookup(root / name)) is None:
                    return None
                known[group][name] = entry.sha256
        return known

    def _run_preflights(self, params: Mapping[str, Any], checkpoint: Checkpoint, base: BaseInfo, options: Mapping[str, Any]) -> None:
        """Each format's tool check; a quality gate it fails (exit 3) is a warning under --accept-quality-loss (the
        build measures again, and the card and manifest carry the failure)."""
        for fmt_name in params:
            preflight = getattr(self._formats.get(fmt_name), "preflight", None)
            if preflight is None:
                continue
            try:
                preflight(checkpoint, base, params[fmt_name], self._services)
            except QualityGateFailed as exc:
                if not options.get("accept_quality_loss"):
                    raise
                self._progress.message(f"warning: {exc.message} (accepted: --accept-quality-loss)")

    def _chosen_formats(self, request: PublishRequest) -> dict[Destination, tuple[str, ...]]:
        """The formats each destination picks itself (Ollama: its one GGUF); empty means the requested ones."""
        chosen = {}
        for dest in parse_destinations(request.destinations):
            registry = self._registry(dest.scheme)
            chosen[dest] = registry.formats_for(dest, request.merged_options()) if isinstance(registry, ChoosesFormats) else ()
        return chosen

    def _target(self, dest: Destination, registry: Registry, name: str, node: PlanNode) -> Target:
        fallback = registry.fallback_location(dest, name, node.format) if isinstance(registry, FallsBack) else None
        return Target(
            destination=str(dest),
            format=node.format,
            location=registry.locate(dest, name, node.format),
            up_to_date=registry.is_published(dest, name, node.format, node.spec.key),
            fallback=fallback,
        )

    def _adapters_to_hub(self, destinations: tuple[Destination, ...]) -> set[str]:
        """The adapter formats (relation `adapter`: they load onto a named base) that go to an hf: destination."""
        formats = self._formats.formats
        to_hub = {f for d in destinations if d.scheme == "hf" for f in d.options["formats"]}
        return {f for f in to_hub if f in formats and formats[f].relation == "adapter"}

    def execute(self, request: PublishRequest) -> PlannedPublish:
        named = chosen_name(request.name, parse_destinations(request.destinations))  # a bad --name stops here, before any work
        measured = {name: f.metrics for name, f in self._formats.formats.items()}
        check_threshold_names(request.option("thresholds") or {}, measured, self._formats.names)  # and a mistyped --threshold
        chosen = self._chosen_formats(request)
        requested = self._formats.parse(request.formats) if request.formats or not all(chosen.values()) else ()
        fmt_names = tuple(dict.fromkeys([*(f for fs in chosen.values() for f in fs), *requested]))
        folder = str(local_folder(tuple(chosen)))  # where a registry that falls back publishes (the first dir:, else the default)
        destinations = tuple(  # each registry sees the publish's options, the formats it publishes and the local folder
            attrs.evolve(d, options={**request.merged_options(), "formats": fs or requested, "local_folder": folder})
            for d, fs in chosen.items()
        )
        registries = {d: self._registry(d.scheme) for d in destinations}
        # the weights' values are checked (a read of the adapter) only when its files changed since they were hashed
        checkpoint = self._reader.read(Path(request.checkpoint), request.base, request.option("pick"), check_values=False)
        if request.option("method"):  # --method wins over what the checkpoint's files say
            checkpoint = attrs.evolve(checkpoint, training_method=parse_method(request.option("method")))
        self._workspace.prepare()
        base = self._loader.base_info(checkpoint.base)
        self._loader.check_compatible(checkpoint, base)
        base = with_lineage(checkpoint, base, flag=request.option("base_model_id"), base_given=request.base is not None)
        onto_hashes: dict[str, dict[str, str]] = {}
        if request.option("merge_onto"):
            onto = merge_onto_info(self._loader, checkpoint, request.option("merge_onto"))
            onto_hashes = self._hash_inputs({"merge_onto": _folder(onto.path)}, "hash --merge-onto")
            key = content_key(onto_hashes["merge_onto"])
            base = with_merge_onto(base, onto, merge_onto_ref(request.option("merge_onto")), key)
        for dest, registry in registries.items():
            registry.check(dest)
        require_base_id(base.lineage, self._adapters_to_hub(destinations))
        named = named or folder_name(derived_name(request.checkpoint, checkpoint.training_method))
        name = named.value
        options = {**request.merged_options(), "name": name}  # a format may write the name into its files
        options = self._formats.with_probe(options, fmt_names)  # the reference's length: what its consumers need
        formats = self._formats.formats_for(options)
        params, estimates = {}, {}
        for fmt_name in format_closure(fmt_names, formats):
            builder = self._formats.get(fmt_name)
            params[fmt_name] = builder.params(options, base)
            builder.check(checkpoint, base, params[fmt_name])
            estimates[fmt_name] = builder.estimate(checkpoint, base, params[fmt_name])
        backend = plan_backend(self._backends, checkpoint, base, params, formats)
        groups = self._input_groups(checkpoint, base)
        known = self._known_hashes(groups)  # every input unchanged since hashed: the keys cost nothing, so they decide
        if known is None:  # checks that read weights or run a tool (seconds) stop a bad publish before the inputs are read
            self._reader.check_values(checkpoint)
            self._run_preflights(params, checkpoint, base, options)
        inputs = (known or self._hash_inputs(groups)) | onto_hashes
        plan = build_plan(
            name=name,
            checkpoint=checkpoint.root,
            base=checkpoint.base.display,
            source_key=content_key({k: v for k, v in inputs.items() if k != "merge_onto"}),  # merged-16bit keys the merge-onto
            requested=fmt_names,
            formats=formats,
            params=params,
            tool_versions=(versions := self._probe.tool_versions()) | self._backends.tool(backend or self._backends.full_model()),
            destinations=destinations,
            estimates=estimates,
        )
        plan = plan.with_status(frozenset(n.spec.key for n in plan.nodes if self._workspace.has(n.spec.key)))
        if known is not None:  # the checks of the formats with something to build (an up-to-date re-run runs none)
            self._run_preflights({n.format: params[n.format] for n in plan.to_build}, checkpoint, base, options)
        targets = tuple(
            self._target(dest, registry, name, node)
            for dest, registry in registries.items()
            for node in plan.requested
            if node.format in dest.options["formats"]
        )
        candidates = yardstick_formats(plan, self._formats, options, self._workspace)
        source = YardstickSource(unavailable="nothing measured has a default loss bound")
        if candidates:  # a full fine-tune's upstream is read and hashed only when a breach could ask for it
            tools = versions | self._backends.tool(self._backends.full_model())
            source = yardstick_source(checkpoint, base, inputs["base"], tools, self._loader, self._hash_folder)
        cost = yardstick_cost(source, candidates, plan, self._formats, options, self._workspace.has)
        disk_needed, disk_free = self._preflight(plan, targets)
        source, cost = within_disk(source, cost, disk_needed, disk_free)
        disk_needed += cost.size_bytes if cost.unavailable is None else 0
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
            name_origin=named.origin,
            merge=merge_line(checkpoint, base) if any(n.format == "merged-16bit" for n in plan.nodes) else None,
            backend=backend,
            yardstick=source,
            yardstick_cost=cost,
        )
