"""The base yardstick's own plan, shared by the plan of a publish (what a breach would cost) and the gate (what it
builds): the base read as a full fine-tune, the same plan nodes as the artifact's (`format_closure`) with the same
output-changing params, under YARDSTICK_NAME, keyed by the base's file hashes, so the workspace is its cache.

Which base: an adapter's own base (unquantized); a full fine-tune's upstream base when it is on disk (`--base`, or
the upstream id in the local Hugging Face cache). The model merged-16bit of a base is a full fine-tune's: it goes to
the hf merger whatever the backend (domain/backend.py), and its key says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from hubship.application.format_registry import FormatRegistry
from hubship.application.node_build import verification_of
from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate, PublishPlan, build_plan, content_key, format_closure
from hubship.domain.quality import resolve_thresholds
from hubship.domain.units import human_bytes
from hubship.domain.yardstick import RELAXABLE, breached_defaults, measured_on_base
from hubship.ports.model_loader import ModelLoader
from hubship.ports.workspace import Workspace

YARDSTICK_NAME = "base-yardstick"  # the publish name the base's builds use (GGUF file names carry it)


@attrs.frozen(kw_only=True)
class YardstickSource:
    """The model a base yardstick builds from (`base`, a `name` safe to publish, its files' sha256 by name, the tool
    versions its plan keys), or why there is none (`unavailable`)."""

    base: BaseInfo | None = None
    name: str = ""
    hashes: Mapping[str, str] = attrs.field(factory=dict)
    tools: Mapping[str, str] = attrs.field(factory=dict)
    unavailable: str | None = None


@attrs.frozen(kw_only=True)
class YardstickCost:
    """What the yardstick would build if a default bound is breached: for `formats`, the `steps` the workspace does not
    hold yet and their bytes on disk (counted in the plan's disk figure when they fit: within_disk); `unavailable` when
    there is no yardstick."""

    formats: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    size_bytes: int = 0
    unavailable: str | None = None


def gated_formats(plan: PublishPlan, formats: Mapping[str, Format]) -> tuple[str, ...]:
    """The requested formats, each after what it carries when it is internal (an Ollama model's GGUF)."""
    names: list[str] = []
    for node in plan.requested:
        if formats[node.format].internal:
            names += [dep for dep in node.builds_from if not formats[dep].internal]
        names.append(node.format)
    return tuple(dict.fromkeys(names))


def yardstick_plan(
    source: YardstickSource,
    requested: tuple[str, ...],
    registry: FormatRegistry,
    options: Mapping[str, Any],
    estimates: Mapping[str, Estimate] | None = None,
) -> PublishPlan:
    """The base's own plan for `requested` (`source.base` must be set); node keys do not depend on what is requested."""
    assert source.base is not None, source.unavailable
    options = registry.with_probe({**options, "name": YARDSTICK_NAME, "verify": "full"}, requested)
    formats = registry.formats_for(options)
    params = {name: registry.get(name).params(options, source.base) for name in format_closure(requested, formats)}
    return build_plan(
        name=YARDSTICK_NAME,
        checkpoint=source.base.path,
        base=source.base.path,
        source_key=content_key({"base-yardstick": dict(source.hashes)}),
        requested=requested,
        formats=formats,
        params=params,
        tool_versions=source.tools,
        destinations=(),
        estimates=estimates,
    )


def yardstick_formats(plan: PublishPlan, registry: FormatRegistry, options: Mapping[str, Any], workspace: Workspace) -> tuple[str, ...]:
    """The gated formats a breach could hold against the base: each measures a loss the yardstick may loosen, on a
    metric the user did not bound, and is not already built within its default bounds; none with `--verify off`."""
    if str(options.get("verify") or "full").lower() == "off":
        return ()
    user, formats = options.get("thresholds") or {}, registry.formats
    found = []
    for fmt in gated_formats(plan, formats):
        bounded = user.get(fmt, {})
        if not measured_on_base(formats[fmt].relation) or not any(m in RELAXABLE and m not in bounded for m in formats[fmt].metrics):
            continue
        node = plan.node(fmt)
        record = verification_of(workspace.path(node.spec.key)) if node.up_to_date else None
        if record is not None:  # built: what it measured says whether a default is breached
            thresholds = resolve_thresholds(record.get("thresholds", {}), bounded)
            if not breached_defaults(record.get("metrics", {}), thresholds, bounded):
                continue
        found.append(fmt)
    return tuple(found)


def yardstick_cost(
    source: YardstickSource,
    candidates: tuple[str, ...],
    plan: PublishPlan,
    registry: FormatRegistry,
    options: Mapping[str, Any],
    has: Callable[[str], bool],
) -> YardstickCost:
    """What a breach of a default bound could cost on top of `plan`: the base's own nodes for the `candidates`
    (yardstick_formats), less what the workspace holds (`has(key)`). Each step is estimated as the same format of
    this publish: the base has the artifact's shape."""
    if not candidates or source.base is None:
        return YardstickCost(formats=candidates, unavailable=source.unavailable if candidates else None)
    estimates = {n.format: n.estimate for n in plan.nodes}
    try:
        base_plan = yardstick_plan(source, candidates, registry, options, estimates)
    except UserInputError as exc:  # as the gate would find it: no yardstick, the absolute bounds decide
        return YardstickCost(formats=candidates, unavailable=f"the formats cannot be planned from the base model: {exc.message}")
    steps = [n for n in base_plan.nodes if not has(n.spec.key)]
    return YardstickCost(formats=candidates, steps=tuple(n.format for n in steps), size_bytes=sum(n.estimate.size_bytes for n in steps))


def within_disk(source: YardstickSource, cost: YardstickCost, needed: int, free: int) -> tuple[YardstickSource, YardstickCost]:
    """The yardstick as planned, or none where its steps would not fit beside the publish's own `needed` bytes in the
    workspace's `free` ones. It only helps a breached default bound: a publish that fits is never refused for it, and
    without it the absolute bounds decide (as for a QLoRA adapter, which has no unquantized base to measure)."""
    if not cost.size_bytes or needed + cost.size_bytes <= free:
        return source, cost
    why = f"its steps need {human_bytes(cost.size_bytes)} beside the publish's {human_bytes(needed)}, and {human_bytes(free)} are free"
    return attrs.evolve(source, base=None, unavailable=why), attrs.evolve(cost, unavailable=why)


def _unquantized(info: BaseInfo, what: str) -> str | None:
    if info.quantization is not None:
        return f"{what} is itself quantized ({info.quantization.bits}-bit): there is no unquantized base to measure"
    return None


def yardstick_source(
    checkpoint: Checkpoint,
    base: BaseInfo,
    base_hashes: Mapping[str, str],
    tools: Mapping[str, str],
    loader: ModelLoader,
    hash_folder: Callable[[str], Mapping[str, str]],
) -> YardstickSource:
    """The base a yardstick of this publish builds from, or why there is none. An adapter's: its own base (`base`,
    hashed as `base_hashes`). A full fine-tune's: the upstream named by `--base` (an error if it cannot be read), else
    the card's upstream id when it is in the local Hugging Face cache; hashed with `hash_folder`. `tools`: the plan's
    tool versions for a full model's merge."""
    if not checkpoint.is_full:
        reason = _unquantized(base, "the base model")
        if reason:
            return YardstickSource(unavailable=reason)
        return YardstickSource(base=attrs.evolve(base, merge_onto=None), name=checkpoint.base.public_name, hashes=base_hashes, tools=tools)
    ref = checkpoint.upstream
    if ref is None and base.lineage.upstream is not None:
        ref = BaseRef(hub_id=base.lineage.upstream.id)
    if ref is None:
        return YardstickSource(unavailable="a full fine-tune whose upstream base is not named: pass --base PATH_OR_ID to measure it")
    try:
        upstream = loader.base_info(ref)
    except UserInputError as exc:
        if checkpoint.upstream is not None:
            raise
        return YardstickSource(unavailable=f"a full fine-tune whose upstream base {ref.display} is not on disk ({exc.message})")
    if upstream.architecture != base.architecture:
        mismatch = f"the upstream base {ref.display} is a {upstream.architecture}, the full fine-tune a {base.architecture}"
        if checkpoint.upstream is not None:
            raise UserInputError(f"--base: {mismatch}; pass the model it was tuned from")
        return YardstickSource(unavailable=mismatch)
    reason = _unquantized(upstream, f"the upstream base {ref.display}")
    if reason:
        return YardstickSource(unavailable=reason)
    return YardstickSource(base=upstream, name=ref.public_name, hashes=hash_folder(upstream.path), tools=tools)
