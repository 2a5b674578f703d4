"""Property-based tests: the destination and format parsers accept or refuse, in one line, and never crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hubship.domain.destination import SCHEMES, parse_destination
from hubship.domain.errors import UserInputError
from hubship.domain.formats import parse_format_list

KNOWN = ("lora", "merged-16bit", "merged-4bit", "gguf-q4_k_m")
texts = st.one_of(
    st.text(max_size=80),
    st.builds(lambda s, t: f"{s}:{t}", st.sampled_from([*SCHEMES, "s3", "HF", ""]), st.text(max_size=60)),
)


@settings(max_examples=400, deadline=None)
@given(texts)
def test_destination_parser_accepts_or_refuses_in_one_line(text):
    try:
        dest = parse_destination(text)
    except UserInputError as exc:
        assert "\n" not in exc.message and exc.exit_code == 2
        return
    assert dest.scheme in SCHEMES and dest.target
    assert parse_destination(str(dest)) == dest  # a parsed destination prints back to itself


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(KNOWN), st.text(max_size=20)).map(lambda s: s), max_size=5), st.booleans())
def test_format_parser_keeps_known_names_in_order(values, join):
    values = [",".join(values)] if join else values
    try:
        parsed = parse_format_list(values, KNOWN)
    except UserInputError as exc:
        assert "\n" not in exc.message
        assert "valid formats" in exc.message
        return
    assert parsed and set(parsed) <= set(KNOWN) and len(set(parsed)) == len(parsed)
    flat = [p.strip().lower() for v in values for p in v.split(",") if p.strip()]
    assert list(parsed) == list(dict.fromkeys(flat))
