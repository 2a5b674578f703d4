"""Whether a checkpoint's tokenizer is token for token its base's, judged from their `tokenizer.json` documents.

transformers 5 re-saves a SentencePiece tokenizer (Gemma 2, Phi-3, Llama 2, Mistral v0.x) as `tokenizer.json`
alone, without `tokenizer.model`; llama.cpp's converter needs that file for some of those families. The base
has it. When the two tokenizers agree on what decides the ids (the vocabulary, the added tokens and the
normalizer), the base's `tokenizer.model` describes the checkpoint's tokenizer too and can be taken from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SENTENCEPIECE_FILE = "tokenizer.model"
TAKEN_NOTE = (
    "`tokenizer.model` is the base model's: the checkpoint's tokenizer (saved without it, as transformers 5 saves"
    " SentencePiece tokenizers) has the same vocabulary, added tokens and normalizer"
)


def _vocab(document: Mapping[str, Any]) -> dict[str, tuple[int, float | None]]:
    """piece -> (id, score): a BPE/WordPiece `vocab` object, or a Unigram list of [piece, score]."""
    vocab = (document.get("model") or {}).get("vocab") or {}
    if isinstance(vocab, Mapping):
        return {str(piece): (int(i), None) for piece, i in vocab.items()}
    return {str(entry[0]): (i, float(entry[1])) for i, entry in enumerate(vocab)}


def _added(document: Mapping[str, Any]) -> dict[int, tuple[str, bool]]:
    return {int(t["id"]): (str(t["content"]), bool(t.get("special"))) for t in document.get("added_tokens") or ()}


def _vocab_difference(base: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> str | None:
    ours, theirs = _vocab(base), _vocab(checkpoint)
    if len(ours) != len(theirs):
        return f"the vocabulary has {len(theirs)} tokens in the checkpoint and {len(ours)} in the base"
    for piece, (i, score) in sorted(ours.items(), key=lambda item: item[1][0]):
        if piece not in theirs:
            return f"the base's token {piece!r} (id {i}) is not in the checkpoint's vocabulary"
        if theirs[piece] != (i, score):
            their_id, their_score = theirs[piece]
            return f"token {piece!r} is id {their_id} (score {their_score}) in the checkpoint and id {i} (score {score}) in the base"
    return None


def _added_difference(base: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> str | None:
    ours, theirs = _added(base), _added(checkpoint)
    for i in sorted(set(ours) | set(theirs)):
        if i not in ours:
            return f"the checkpoint adds token {theirs[i][0]!r} (id {i}), which the base does not have"
        if i not in theirs:
            return f"the base's added token {ours[i][0]!r} (id {i}) is not in the checkpoint's tokenizer"
        if ours[i] != theirs[i]:
            (text, special), (their_text, their_special) = ours[i], theirs[i]
            return (
                f"added token {i} is {their_text!r} (special={their_special}) in the checkpoint"
                f" and {text!r} (special={special}) in the base"
            )
    return None


def tokenizer_difference(base: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> str | None:
    """The first way the checkpoint's `tokenizer.json` document differs from the base's in what decides the token ids
    (vocabulary with scores, added tokens, normalizer), in a few words; None when they agree."""
    found = _vocab_difference(base, checkpoint) or _added_difference(base, checkpoint)
    if found:
        return found
    if base.get("normalizer") != checkpoint.get("normalizer"):
        kinds = [(doc.get("normalizer") or {}).get("type", "none") for doc in (checkpoint, base)]
        return f"the normalizer differs ({kinds[0]} in the checkpoint, {kinds[1]} in the base)"
    return None
