"""Compose the card for one artifact from what the plan knows: base, method, format, measured quality."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

from hubship.application.card_lineage import lineage_lines, summary
from hubship.application.format_builder import FormatBuilder
from hubship.domain.card import CardData
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import relation_for
from hubship.domain.hub_layout import hub_url
from hubship.domain.quality_table import file_facts, number, quality_section
from hubship.domain.training_method import method
from hubship.domain.units import human_bytes


def compose_card(
    *,
    name: str,
    checkpoint: Checkpoint,
    base: BaseInfo,
    builder: FormatBuilder,
    location: str,
    manifest_key: str,
    verification: Mapping[str, Any],
    size_bytes: int = 0,
    extra_tags: tuple[str, ...] = (),
    siblings: Sequence[tuple[str, str]] = (),
    scheme: str = "dir",
    warnings: Sequence[str] = (),
    notes: Sequence[str] = (),
    files: Sequence[str] = (),
    quants: str = "",
) -> CardData:
    """The card of one artifact. `siblings` are (format, location) of every artifact of the same publish at
    the same destination (`scheme`); the card links the others. `verification` is the artifact's record
    (metrics, thresholds; the quality section), `size_bytes` its files' total, `files` their paths. `warnings`
    (first) and `notes` (after the usage) are what the build wrote into its `.verification.json` under those keys.
    `quants`: the table comparing every quantization at this location (domain.quant_comparison), if any."""
    fmt = builder.format
    trained = method(checkpoint.training_method)
    size, verify = f"- size: {size_text(size_bytes, verification)}", f"`hubship verify {verify_target(location, scheme)}`"
    lineage = "\n".join(lineage_lines(checkpoint, base, fmt, manifest_key, size=size, verify=verify))
    notes = (*notes, *base.lineage.notes)
    sections: list[tuple[str, str]] = [
        ("Usage", usage_text(builder, location, files, scheme)),
        ("How it was made", lineage),
    ]
    if quants:
        sections.insert(1, ("Quantizations in this repository", quants))
    if notes:
        sections.insert(1, ("Notes", "\n".join(f"- {n}" for n in notes)))
    if warnings:
        sections.insert(0, ("Warnings", "\n".join(f"- **Warning:** {w}" for w in warnings)))
    links = sibling_links(location, siblings, scheme)
    if links:
        sections.append(("Other formats of this model", links))
    quality = quality_section(verification)
    if quality:
        sections.append(("Measured quality", quality))
    tags = (*trained.tags, fmt.name, "hubship", *extra_tags)
    if not checkpoint.is_full and checkpoint.peft_type == "LORA":
        tags = ("lora", *tags)
    return CardData(
        title=f"{name} ({fmt.name})",
        base_model=base.lineage.upstream.id if base.lineage.upstream else None,
        base_model_relation=relation_for(fmt, checkpoint.is_full),
        library_name=fmt.library_name,
        license=base.license,
        tags=tuple(dict.fromkeys(tags)),
        datasets=checkpoint.datasets,
        summary=summary(name, checkpoint, base, fmt),
        sections=tuple(sections),
    )


def usage_text(builder: FormatBuilder, location: str, files: Sequence[str], scheme: str) -> str:
    """The builder's usage snippet; one that defines `usage_for(location, files, scheme)` names the artifact's real files."""
    usage_for = getattr(builder, "usage_for", None)
    return usage_for(location, files, scheme) if usage_for else builder.usage(location)


def sibling_links(location: str, siblings: Sequence[tuple[str, str]], scheme: str) -> str:
    """A markdown list linking the other artifacts of one publish: Hub pages for `hf`, relative folders for `dir`."""
    lines, seen = [], {location}
    for fmt, there in siblings:
        if there in seen:
            continue
        seen.add(there)
        if scheme == "hf":
            lines.append(f"- `{fmt}`: [{there}]({hub_url(there)})")
        elif scheme == "dir":
            lines.append(f"- `{fmt}`: [{posixpath.basename(there)}]({posixpath.relpath(there, location)})")
        else:
            lines.append(f"- `{fmt}`: `{there}`")
    return "\n".join(lines)


def size_text(size_bytes: int, verification: Mapping[str, Any]) -> str:
    """`289.9 kB (Q4_K_M, 5.94 bits per weight)`: the artifact's files in human units, with what the build measured of them."""
    facts = file_facts(verification)
    extra = [str(facts["quantization"])] if "quantization" in facts else []
    if "bits_per_weight" in facts:
        extra.append(f"{number(facts['bits_per_weight'])} bits per weight")
    return human_bytes(size_bytes) + (f" ({', '.join(extra)})" if extra else "")


def verify_target(location: str, scheme: str) -> str:
    """What a reader passes to `hubship verify`: `hf:OWNER/NAME` for a Hub repo, a folder (DIR) otherwise."""
    return f"hf:{'/'.join(location.split('/')[:2])}" if scheme == "hf" else "DIR"
