"""Use case: build every artifact of the plan that the workspace lacks, then publish to each destination.

Builds run in DAG order into the workspace (one merge feeds every format built from it); an
artifact already in the workspace is reused, so a re-run after a crash starts where it stopped.
Cards and manifests are composed last, and each registry shows a publication whole or not at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import attrs

from hubship.application.base_yardstick import BaseYardstick
from hubship.application.card_composer import compose_card
from hubship.application.format_registry import FormatRegistry
from hubship.application.node_build import build_node
from hubship.application.plan_publish import PlanPublish
from hubship.application.planned_publish import PlannedPublish
from hubship.application.publish_request import PublishRequest
from hubship.application.quality_check import gate
from hubship.domain.destination import Destination, parse_destination
from hubship.domain.formats import relation_for
from hubship.domain.hub_layout import hub_options, hub_url
from hubship.domain.manifest import CARD_NAME, FileEntry, Manifest
from hubship.domain.outcome import ArtifactOutcome
from hubship.domain.plan import PlanNode
from hubship.domain.publication import UP_TO_DATE, Delivery, Publication
from hubship.domain.quant_comparison import tables_by_location
from hubship.ports.card_renderer import CardRenderer
from hubship.ports.file_hasher import FileHasher
from hubship.ports.progress import Progress
from hubship.ports.registry import Registry
from hubship.ports.workspace import Workspace


@attrs.frozen(kw_only=True)
class BuiltArtifact:
    format: str
    key: str
    reused: bool
    path: str


@attrs.frozen(kw_only=True)
class PublishResult:
    """`outcomes`: one per artifact and destination, in plan order; `published` / `skipped`: the locations
    newly published / already up to date (each once)."""

    planned: PlannedPublish
    artifacts: tuple[BuiltArtifact, ...]
    published: tuple[str, ...]
    skipped: tuple[str, ...]
    outcomes: tuple[ArtifactOutcome, ...] = ()


class ExecutePlan:
    def __init__(
        self,
        planner: PlanPublish,
        workspace: Workspace,
        formats: FormatRegistry,
        registries: dict[str, Registry],
        hasher: FileHasher,
        renderer: CardRenderer,
        progress: Progress,
        services: dict[str, Any],
        yardstick: BaseYardstick | None = None,
    ) -> None:
        self._yardstick = yardstick  # the same format on the base alone, when a default quality bound is breached
        self._planner = planner
        self._workspace = workspace
        self._formats = formats
        self._registries = registries
        self._hasher = hasher
        self._renderer = renderer
        self._progress = progress
        self._services = services

    def _build(self, planned: PlannedPublish, node: PlanNode) -> BuiltArtifact:
        reused = build_node(
            workspace=self._workspace,
            formats=self._formats,
            progress=self._progress,
            services=self._services,
            checkpoint=planned.checkpoint,
            base=planned.base,
            plan=planned.plan,
            node=node,
        )
        return BuiltArtifact(format=node.format, key=node.spec.key, reused=reused, path=str(self._workspace.path(node.spec.key)))

    def _warm_up(self, planned: PlannedPublish) -> None:
        """Have the formats with a slow preparation (see FormatBuilder) start it now when one of them will be built,
        so that it overlaps the builds before it, or stop it when none will."""
        hooks = {}
        for node in planned.plan.nodes:
            if (warm_up := getattr(self._formats.get(node.format), "warm_up", None)) is not None:
                hooks[warm_up] = hooks.get(warm_up, False) or not self._workspace.has(node.spec.key)
        needed = any(hooks.values())
        for warm_up in hooks:
            warm_up(self._services, needed)

    def _publication(
        self,
        planned: PlannedPublish,
        node: PlanNode,
        location: str,
        verification: dict[str, Any],
        files: tuple[FileEntry, ...],
        siblings: tuple[tuple[str, str], ...] = (),
        scheme: str = "dir",
        quants: str = "",
    ) -> Publication:
        plan = planned.plan
        source = self._workspace.path(node.spec.key)
        builder = self._formats.get(node.format)
        card = self._renderer.render(
            compose_card(
                name=plan.name,
                checkpoint=planned.checkpoint,
                base=planned.base,
                builder=builder,
                location=location,
                manifest_key=node.spec.key,
                verification=verification,
                size_bytes=sum(f.size for f in files),
                siblings=siblings,
                scheme=scheme,
                warnings=tuple(verification.get("warnings", ())),
                notes=tuple(verification.get("notes", ())),
                files=tuple(f.path for f in files),
                quants=quants,
            )
        )
        card_bytes = card.encode()
        card_entry = FileEntry(CARD_NAME, len(card_bytes), _sha256(card_bytes))
        manifest = Manifest(
            name=plan.name,
            format=node.format,
            key=node.spec.key,
            params=node.spec.params,
            files=(*files, card_entry),
            inputs=_manifest_inputs(planned),
            tools=node.spec.tools,
            built_from={dep: plan.node(dep).spec.key for dep in node.builds_from},
            verification=verification,
        )
        return Publication(
            name=plan.name,
            format=node.format,
            source_dir=str(source),
            card=card,
            manifest=manifest,
            relation=relation_for(builder.format, planned.checkpoint.is_full),
        )

    def execute(self, request: PublishRequest) -> PublishResult:
        planned = self._planner.execute(request)
        plan = planned.plan
        with self._workspace.lock(plan.source_key[:16]):
            self._warm_up(planned)
            artifacts = tuple(self._build(planned, node) for node in plan.nodes)
            records = gate(planned, self._formats.formats, self._workspace, self._yardstick)
            files = {n.format: self._hasher.hash_tree(self._workspace.path(n.spec.key), self._progress) for n in plan.requested}
            deliveries: list[tuple[Destination, str, Delivery]] = []
            for dest_text in dict.fromkeys(t.destination for t in planned.targets):
                dest = next((d for d in plan.destinations if str(d) == dest_text), None) or parse_destination(dest_text)
                targets = [t for t in planned.targets if t.destination == dest_text]
                pending = [t for t in targets if not t.up_to_date]
                siblings = tuple((t.format, t.location) for t in targets)
                tables = tables_by_location((t.location, records[t.format], sum(f.size for f in files[t.format])) for t in targets)
                pubs = [
                    self._publication(
                        planned,
                        plan.node(t.format),
                        t.location,
                        records[t.format],
                        files[t.format],
                        siblings,
                        dest.scheme,
                        tables[t.location],
                    )
                    for t in pending
                ]
                sent = self._registries[dest.scheme].publish(dest, pubs, self._progress) if pubs else []
                delivered = dict(zip((t.format for t in pending), sent, strict=True))
                deliveries += [
                    (dest, t.format, delivered.get(t.format) or Delivery(location=t.location, status=UP_TO_DATE)) for t in targets
                ]
        outcomes = tuple(_outcome(dest, fmt, got, sum(f.size for f in files[fmt]), records[fmt]) for dest, fmt, got in deliveries)
        return PublishResult(
            planned=planned,
            artifacts=artifacts,
            published=tuple(dict.fromkeys(got.location for _, _, got in deliveries if got.status != UP_TO_DATE)),
            skipped=tuple(dict.fromkeys(got.location for _, _, got in deliveries if got.status == UP_TO_DATE)),
            outcomes=outcomes,
        )


def _outcome(dest: Destination, fmt: str, delivery: Delivery, size_bytes: int, record: dict[str, Any]) -> ArtifactOutcome:
    """What a person reads about one artifact at one destination; a Hub location as its page's URL."""
    where = delivery.location
    if dest.scheme == "hf" and not where.startswith(("http://", "https://")):
        where = hub_url(where, hub_options(dest.options).revision)
    return ArtifactOutcome(
        destination=str(dest),
        format=fmt,
        status=delivery.status,
        where=where,
        size_bytes=size_bytes,
        verification={k: record[k] for k in ("metrics", "thresholds") if k in record},
        command=delivery.command,
    )


def _manifest_inputs(planned: PlannedPublish) -> dict[str, Any]:
    """What the manifest records a publication was built from: each input group's files by sha256, named safely
    (a hub id or a folder name, never a local path)."""
    base = planned.base
    inputs: dict[str, Any] = {
        "checkpoint": {"name": Path(planned.checkpoint.root).name, "files": planned.inputs["checkpoint"]},
        "base": {"ref": planned.checkpoint.base.public_name, "files": planned.inputs["base"]},
    }
    if base.lineage.upstream is not None:
        inputs["base"]["hub_id"] = (base.lineage.base or base.lineage.upstream).id
    if base.merge_onto is not None:
        inputs["merge_onto"] = {"ref": base.merge_onto.name, "files": planned.inputs.get("merge_onto", {})}
    return inputs


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
