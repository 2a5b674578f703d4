"""The tokenizer settings hubship writes into a GGUF so that llama.cpp feeds the ids training saw.

- `add_bos` (`tokenizer.ggml.add_bos_token`): the BOS choice (domain.bos_choice);
- `add_space_prefix` (`tokenizer.ggml.add_space_prefix`): whether llama.cpp's SentencePiece tokenizer puts `▁` on
  text that follows a special token (and at the start). transformers 5 writes no `▁` after a special token where
  older (legacy) SentencePiece tokenizers and llama.cpp's default do; Mistral's `<s>[INST]` and Phi-3's
  `<|user|>\\n` tokenize differently otherwise. Set from what the checkpoint's tokenizer does (ChatProfile), only
  for SentencePiece-style tokenizers (None elsewhere: the converter's own reading stands).
None leaves a setting as the converter writes it.
"""

from __future__ import annotations

import attrs

ADD_BOS = "tokenizer.ggml.add_bos_token"
ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix"


@attrs.frozen(kw_only=True)
class TokenizerSettings:
    add_bos: bool | None = None
    add_space_prefix: bool | None = None

    def keys(self) -> dict[str, bool]:
        """The GGUF keys to write, with their values (the settings left to the converter are absent)."""
        found = {ADD_BOS: self.add_bos, ADD_SPACE_PREFIX: self.add_space_prefix}
        return {k: v for k, v in found.items() if v is not None}

    def notes(self) -> tuple[str, ...]:
        """The card's word on a setting that differs from llama.cpp's SentencePiece default."""
        if self.add_space_prefix is False:
            return (
                "tokenizer.ggml.add_space_prefix is false: this SentencePiece tokenizer writes no `▁` before text that follows"
                " a special token, so llama.cpp is told not to add one (its default would change the ids after every turn marker)",
            )
        return ()


DEFAULT_SETTINGS = TokenizerSettings()
