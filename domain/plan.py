"""The publish plan: a DAG of artifacts, each with a content key derived from everything it is built from.

A key changes when, and only when, an input's hash, a parameter or a tool version changes, so an
artifact whose key is already in the workspace is never rebuilt, and one merge feeds every format
built from it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from hubship.domain.destination import Destination
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format


def content_key(payload: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of `payload` (sorted keys, no whitespace)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen(kw_only=True)
class Estimate:
    """What a step needs: bytes on disk for its output, and peak memory while it runs."""

    size_bytes: int = 0
    peak_memory_bytes: int = 0


@attrs.frozen(kw_only=True)
class ArtifactSpec:
    """One node of the plan: a format, its parameters, and the keys of the artifacts it is built from."""

    format: str
    params: Mapping[str, Any]
    inputs: tuple[str, ...]
    tools: Mapping[str, str]
    key: str

    @classmethod
    def create(cls, fmt: str, params: Mapping[str, Any], inputs: tuple[str, ...], tools: Mapping[str, str]) -> ArtifactSpec:
        payload = {"format": fmt, "params": dict(params), "inputs": list(inputs), "tools": dict(tools)}
        return cls(format=fmt, params=dict(params), inputs=inputs, tools=dict(tools), key=content_key(payload))

    @property
    def short_key(self) -> str:
        return self.key[:16]


@attrs.frozen(kw_only=True)
class PlanNode:
    spec: ArtifactSpec
    builds_from: tuple[str, ...]
    requested: bool
    estimate: Estimate = Estimate()
    up_to_date: bool = False

    @property
    def format(self) -> str:
        return self.spec.format


@attrs.frozen(kw_only=True)
class PublishPlan:
    """Nodes in build order (every node after the nodes it is built from), and where to publish."""

    name: str
    checkpoint: str
    base: str
    source_key: str
    nodes: tuple[PlanNode, ...]
    destinations: tuple[Destination, ...]

    def node(self, fmt: str) -> PlanNode:
        for node in self.nodes:
            if node.format == fmt:
                return node
        raise KeyError(fmt)

    @property
    def requested(self) -> tuple[PlanNode, ...]:
        return tuple(n for n in self.nodes if n.requested)

    @property
    def to_build(self) -> tuple[PlanNode, ...]:
        return tuple(n for n in self.nodes if not n.up_to_date)

    def with_status(self, done_keys: frozenset[str]) -> PublishPlan:
        nodes = tuple(attrs.evolve(n, up_to_date=n.spec.key in done_keys) for n in self.nodes)
        return attrs.evolve(self, nodes=nodes)


def format_closure(requested: tuple[str, ...], formats: Mapping[str, Format]) -> list[str]:
    """Every format needed for `requested`, dependencies first (depth-first topological order)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise UserInputError(f"format {name!r} depends on itself")
        if name not in formats:
            raise UserInputError(f"unknown format {name!r}; valid formats: {', '.join(sorted(formats))}")
        visiting.add(name)
        for dep in formats[name].builds_from:
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in requested:
        visit(name)
    return order


def build_plan(
    *,
    name: str,
    checkpoint: str,
    base: str,
    source_key: str,
    requested: tuple[str, ...],
    formats: Mapping[str, Format],
    params: Mapping[str, Mapping[str, Any]],
    tool_versions: Mapping[str, str],
    destinations: tuple[Destination, ...],
    estimates: Mapping[str, Estimate] | None = None,
) -> PublishPlan:
    """Expand the requested formats into a DAG and key every node. Pure: no I/O."""
    keys: dict[str, str] = {}
    nodes: list[PlanNode] = []
    for fmt_name in format_closure(requested, formats):
        fmt = formats[fmt_name]
        inputs = tuple(keys[d] for d in fmt.builds_from) or (source_key,)
        tools = {t: tool_versions.get(t, "absent") for t in sorted({"hubship", *fmt.tools})}
        spec = ArtifactSpec.create(fmt_name, params.get(fmt_name, {}), inputs, tools)
        keys[fmt_name] = spec.key
        nodes.append(
            PlanNode(
                spec=spec,
                builds_from=fmt.builds_from,
                requested=fmt_name in requested,
                estimate=(estimates or {}).get(fmt_name, Estimate()),
            )
        )
    return PublishPlan(
        name=name,
        checkpoint=checkpoint,
        base=base,
        source_key=source_key,
        nodes=tuple(nodes),
        destinations=destinations,
    )
