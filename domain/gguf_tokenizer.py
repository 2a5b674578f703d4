"""The tokenizer settings hubship writes into a GGUF so that llama.cpp feeds the ids training saw.

- `add_bos` (`tokenizer.ggml.add_bos_token`): the BOS choice (domain.bos_choice);
- `add_space_prefix` (`tokenizer.ggml.add_space_prefix`): whether llama.cpp's SentencePiece tokenizer puts `▁` on
  text that follows a special token (and at the start). transformers 5 writes no `▁` after a special token where
  older (legacy) SentencePiece tokenizers and llama.cpp's default do; Mistral's `<s>[INST]` and Phi-3's
  `<|user|>\\n` tokenize differently otherwise. Set from what the checkpoint's tokenizer does (ChatProfile), only
  for SentencePiece-style tokenizers (None elsewhere: the converter's own reading stands).
- `strip_after_special`: whether the checkpoint's tokenizer drops the whitespace after its special tokens. llama.cpp
  decides that by the GGUF's `general.name`, not by the tokenizer: a lowercased name containing `phi-3` or `phi3`
  makes it strip after every special token but `<unk>`, `<s>`, `<|endoftext|>` (src/llama-vocab.cpp, a stand-in for
  Phi-3's `rstrip` added tokens). `gguf_name` picks the name that makes llama.cpp do what the tokenizer does.
- `chat_template` (`tokenizer.chat_template`): the chat template the GGUF carries where hubship writes another than
  the checkpoint's (domain.ollama_runtime.gguf_templates: a comment before it, or patched for llama.cpp; same renders).
None leaves a setting as the converter writes it.
"""

from __future__ import annotations

import re

import attrs

ADD_BOS = "tokenizer.ggml.add_bos_token"
ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix"
CHAT_TEMPLATE = "tokenizer.chat_template"
STRIP_RULE = re.compile(r"(phi)-?(3)", re.IGNORECASE)  # llama.cpp: lowercase(general.name) contains "phi-3" or "phi3"
STRIP_MARK = "phi3"


def gguf_name(name: str, strip_after_special: bool | None) -> str:
    """The `general.name` that makes llama.cpp strip after special tokens exactly when the tokenizer does: `name`
    with its `phi3`/`phi-3` spelled `phi 3` when the tokenizer keeps the whitespace, `name` plus ` (phi3)` when it
    strips and the name has neither; `name` itself when it already agrees (or the tokenizer does not say)."""
    if strip_after_special is False:
        name = STRIP_RULE.sub(r"\1 \2", name)  # every match; the space it inserts makes no new one
    elif strip_after_special and not STRIP_RULE.search(name):
        name = f"{name} ({STRIP_MARK})"
    return name


@attrs.frozen(kw_only=True)
class TokenizerSettings:
    add_bos: bool | None = None
    add_space_prefix: bool | None = None
    strip_after_special: bool | None = None
    name: str | None = None
    chat_template: str | None = None

    def gguf_name(self, name: str) -> str:
        return gguf_name(name, self.strip_after_special)

    def keys(self) -> dict[str, bool | str]:
        """The GGUF keys to write, with their values (the settings left to the converter are absent)."""
        found: dict[str, bool | str | None] = {ADD_BOS: self.add_bos, ADD_SPACE_PREFIX: self.add_space_prefix}
        found[CHAT_TEMPLATE] = self.chat_template
        return {k: v for k, v in found.items() if v is not None}

    def notes(self) -> tuple[str, ...]:
        """The card's word on a setting that differs from llama.cpp's SentencePiece default."""
        notes = []
        if self.add_space_prefix is False:
            notes.append(
                "tokenizer.ggml.add_space_prefix is false: this SentencePiece tokenizer writes no `▁` before text that follows"
                " a special token, so llama.cpp is told not to add one (its default would change the ids after every turn marker)"
            )
        if self.name is not None and (written := self.gguf_name(self.name)) != self.name:
            keeps = "strips" if self.strip_after_special else "keeps"
            notes.append(
                f"the GGUF's general.name is {written!r}, not {self.name!r}: llama.cpp strips the whitespace after every special"
                f" token of a model whose name contains `phi3` or `phi-3`, and this tokenizer {keeps} it"
            )
        return tuple(notes)


DEFAULT_SETTINGS = TokenizerSettings()
