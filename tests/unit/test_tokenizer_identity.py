"""domain.tokenizer_identity: when a checkpoint's tokenizer.json is token for token its base's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hubship.domain.tokenizer_identity import tokenizer_difference

BPE: dict[str, Any] = {
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}]},
    "model": {"type": "BPE", "vocab": {"<unk>": 0, "<s>": 1, "▁a": 2, "b": 3}},
    "added_tokens": [{"id": 1, "content": "<s>", "special": True}, {"id": 4, "content": "<|end|>", "special": True}],
}
UNIGRAM: dict[str, Any] = {"model": {"type": "Unigram", "vocab": [["<unk>", 0.0], ["▁a", -1.5], ["b", -2.0]]}, "added_tokens": []}


def _changed(document: dict[str, Any], change) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    change(changed)
    return changed


def test_a_resaved_identical_tokenizer_has_no_difference() -> None:
    assert tokenizer_difference(BPE, copy.deepcopy(BPE)) is None
    assert tokenizer_difference(UNIGRAM, copy.deepcopy(UNIGRAM)) is None


@pytest.mark.parametrize(
    ("document", "change", "expected"),
    [
        (BPE, lambda d: d["model"]["vocab"].update({"c": 5}), "the vocabulary has 5 tokens in the checkpoint and 4 in the base"),
        (
            BPE,
            lambda d: d["model"]["vocab"].update({"b": 9}),
            "token 'b' is id 9 (score None) in the checkpoint and id 3 (score None) in the base",
        ),
        (
            BPE,
            lambda d: d["model"]["vocab"].update({"c": d["model"]["vocab"].pop("b")}),
            "the base's token 'b' (id 3) is not in the checkpoint's vocabulary",
        ),
        (
            UNIGRAM,
            lambda d: d["model"]["vocab"][1].__setitem__(1, -1.0),
            "token '▁a' is id 1 (score -1.0) in the checkpoint and id 1 (score -1.5) in the base",
        ),
        (
            BPE,
            lambda d: d["added_tokens"].append({"id": 5, "content": "<x>", "special": True}),
            "the checkpoint adds token '<x>' (id 5), which the base does not have",
        ),
        (BPE, lambda d: d["added_tokens"].pop(), "the base's added token '<|end|>' (id 4) is not in the checkpoint's tokenizer"),
        (
            BPE,
            lambda d: d["added_tokens"][1].update({"special": False}),
            "added token 4 is '<|end|>' (special=False) in the checkpoint and '<|end|>' (special=True) in the base",
        ),
        (BPE, lambda d: d.update({"normalizer": None}), "the normalizer differs (none in the checkpoint, Sequence in the base)"),
    ],
)
def test_each_difference_is_named(document: dict[str, Any], change, expected: str) -> None:
    assert tokenizer_difference(document, _changed(document, change)) == expected
