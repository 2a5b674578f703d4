"""The GGUF `general.name` that makes llama.cpp's `phi3` name rule agree with the tokenizer (domain.gguf_tokenizer)."""

from __future__ import annotations

import pytest

from hubship.domain.gguf_tokenizer import TokenizerSettings, gguf_name


def _rule(name: str) -> bool:
    """llama.cpp's test, as src/llama-vocab.cpp writes it: the lowercased name contains "phi-3" or "phi3"."""
    return any(part in name.lower() for part in ("phi-3", "phi3"))


@pytest.mark.parametrize("name", ["my-Phi3-mini-ft", "phi-3.5-mini", "PHI3-phi-3-Phi3", "tiny"])
def test_a_tokenizer_that_keeps_the_whitespace_gets_a_name_outside_the_rule(name: str) -> None:
    written = gguf_name(name, False)
    assert not _rule(written)
    assert written.replace(" ", "").replace("-", "").lower() == name.replace("-", "").lower()


@pytest.mark.parametrize("name", ["tiny", "my-Phi3-mini-ft", "phi-3.5"])
def test_a_tokenizer_that_strips_gets_a_name_inside_the_rule(name: str) -> None:
    written = gguf_name(name, True)
    assert _rule(written) and written.startswith(name)
    assert written == name or written == f"{name} (phi3)"


def test_an_undecided_tokenizer_keeps_the_name_and_the_card_says_only_what_changed() -> None:
    assert gguf_name("my-phi3", None) == "my-phi3"
    assert TokenizerSettings(strip_after_special=False, name="tiny").notes() == ()
    (note,) = TokenizerSettings(strip_after_special=False, name="my-phi3").notes()
    assert "general.name is 'my-phi 3', not 'my-phi3'" in note and "this tokenizer keeps it" in note
