"""The publish plan: DAG expansion, content keys, status."""

from __future__ import annotations

import pytest

from hubship.domain.destination import parse_destinations
from hubship.domain.errors import UserInputError
from hubship.domain.formats import Format
from hubship.domain.plan import build_plan, format_closure

FORMATS = {
    "merged": Format(name="merged", relation="merge", description="merged"),
    "quant-a": Format(name="quant-a", relation="quantized", description="a", builds_from=("merged",)),
    "quant-b": Format(name="quant-b", relation="quantized", description="b", builds_from=("merged",)),
    "lora": Format(name="lora", relation="adapter", description="adapter"),
}


def plan(requested=("quant-a", "quant-b"), params=None, tools=None, source="src"):
    return build_plan(
        name="n",
        checkpoint="c",
        base="b",
        source_key=source,
        requested=requested,
        formats=FORMATS,
        params=params or {},
        tool_versions=tools or {"hubship": "1"},
        destinations=parse_destinations([]),
    )


def test_dependencies_come_first_and_are_shared():
    p = plan()
    assert [n.format for n in p.nodes] == ["merged", "quant-a", "quant-b"]
    assert not p.node("merged").requested
    assert p.node("quant-a").spec.inputs == (p.node("merged").spec.key,) == p.node("quant-b").spec.inputs


def test_keys_change_with_inputs_params_and_tools_only():
    base = plan()
    assert plan().node("quant-a").spec.key == base.node("quant-a").spec.key
    assert plan(source="other").node("quant-a").spec.key != base.node("quant-a").spec.key
    assert plan(params={"merged": {"dtype": "fp32"}}).node("quant-b").spec.key != base.node("quant-b").spec.key
    assert plan(tools={"hubship": "2"}).node("merged").spec.key != base.node("merged").spec.key


def test_status_marks_done_keys():
    p = plan()
    done = p.with_status(frozenset({p.node("merged").spec.key}))
    assert [n.up_to_date for n in done.nodes] == [True, False, False]
    assert [n.format for n in done.to_build] == ["quant-a", "quant-b"]


def test_cycles_and_unknown_formats_are_user_errors():
    cyclic = {
        "a": Format(name="a", relation="merge", description="", builds_from=("b",)),
        "b": Format(name="b", relation="merge", description="", builds_from=("a",)),
    }
    with pytest.raises(UserInputError, match="depends on itself"):
        format_closure(("a",), cyclic)
    with pytest.raises(UserInputError, match="unknown format 'nope'"):
        format_closure(("nope",), FORMATS)


def test_the_reference_is_short_only_when_every_reader_checks_per_tensor() -> None:
    """domain/probe.py: merged-16bit alone reads back on 32 tokens; anything lossy beside it needs the full 256."""
    from hubship.domain.probe import FULL_PROBE_TOKENS, READBACK_PROBE_TOKENS, REFERENCE, probe_tokens

    formats = {
        REFERENCE: Format(name=REFERENCE, relation="finetune", description="r", internal=True),
        "exact": Format(name="exact", relation="merge", description="e", builds_from=(REFERENCE,), readback=True),
        "lossy": Format(name="lossy", relation="quantized", description="l", builds_from=("exact", REFERENCE)),
        "onto": Format(name="onto", relation="merge", description="o", builds_from=(REFERENCE,)),
        "lora": Format(name="lora", relation="adapter", description="a"),
    }
    assert probe_tokens(("exact",), formats) == probe_tokens(("exact", "lora"), formats) == READBACK_PROBE_TOKENS == 32
    assert probe_tokens(("lossy",), formats) == probe_tokens(("exact", "onto"), formats) == FULL_PROBE_TOKENS == 256
    assert probe_tokens(("lora",), formats) == FULL_PROBE_TOKENS, "no reader: the reference is not built, its length moot"


def test_merged_16bit_reads_back_short_unless_merged_onto_other_weights() -> None:
    from hubship.application.format_registry import FormatRegistry
    from hubship.application.formats.merged_16bit import Merged16bitFormat
    from hubship.application.formats.reference_logits import ReferenceLogitsFormat

    registry = FormatRegistry([ReferenceLogitsFormat(), Merged16bitFormat()])
    assert registry.with_probe({}, ("merged-16bit",))["probe_tokens"] == 32
    assert registry.with_probe({"merge_onto": "./original"}, ("merged-16bit",))["probe_tokens"] == 256
