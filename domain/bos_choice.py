"""Whether the prompt a runtime feeds starts with a BOS token the chat template does not write: a stated choice.

Training saw one of two things, and the files do not say which: TRL's conversational path tokenizes
`apply_chat_template(tokenize=True)`, with no BOS beyond what the template writes; text-field SFT and many
notebooks tokenize the rendered text with `tokenizer(text)`, which adds the tokenizer's BOS. hubship writes the
GGUF's `tokenizer.ggml.add_bos_token`, so it can make the runtimes feed either (`--bos`):
- `tokenizer` (the default): what `tokenizer(text)` does: BOS added when the checkpoint's tokenizer adds one
  (the base's setting where transformers 5 dropped it on save), never twice;
- `template`: exactly the template's text: a BOS only where the template writes it.
A template that writes the BOS text itself feeds one BOS under either choice.
"""

from __future__ import annotations

import attrs

BOS_POLICIES = ("tokenizer", "template")
DEFAULT_POLICY = "tokenizer"


@attrs.frozen(kw_only=True)
class BosChoice:
    """`tokenizer_adds`: the checkpoint's tokenizer adds BOS when encoding; `template_writes`: the template's
    render starts with the BOS text; `bos`: that text (None: the tokenizer has no BOS token)."""

    policy: str = attrs.field(default=DEFAULT_POLICY, validator=attrs.validators.in_(BOS_POLICIES))
    tokenizer_adds: bool
    template_writes: bool
    bos: str | None

    def _adds(self, policy: str) -> bool:
        if self.bos is None:
            return False
        return self.tokenizer_adds if policy == "tokenizer" else self.template_writes

    @property
    def add_bos(self) -> bool:
        """What the GGUF's add_bos_token says: the runtime adds the BOS token itself."""
        return self._adds(self.policy)

    @property
    def prepends_bos(self) -> bool:
        """The fed ids are the template's ids with a BOS in front (the template does not write it)."""
        return self.add_bos and not self.template_writes

    def _feeds(self, policy: str) -> str:
        if self.bos is None:
            return "no BOS token (the tokenizer has none)"
        if self.template_writes:
            return f"one BOS token ({self.bos}, written by the chat template)"
        return f"a BOS token ({self.bos}) before the template's text" if self._adds(policy) else "no BOS token (the template writes none)"

    def note(self) -> str:
        """One card line: what was chosen, and what the other choice would have fed."""
        other = next(p for p in BOS_POLICIES if p != self.policy)
        why = "as `tokenizer(text)` does with this tokenizer" if self.policy == "tokenizer" else "exactly the chat template's text"
        same = self._feeds(other) == self._feeds(self.policy)
        tail = "the same" if same else self._feeds(other)
        return f"BOS (--bos {self.policy}): the runtimes feed {self._feeds(self.policy)}, {why}; --bos {other} would feed {tail}"
