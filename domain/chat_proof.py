"""The token-level proof of a chat format: the ids a runtime feeds the model are the ids it was trained on.

Training saw `apply_chat_template(conversation, tokenize=True, add_generation_prompt=True)`, with a BOS in
front where the stated BOS choice says so (domain.bos_choice). Each runtime renders its template (llama-server
and llama-cpp-python the GGUF's embedded Jinja template, Ollama the Modelfile's Go TEMPLATE) and turns the text
into ids its own way (domain.chat_runtimes). Equal ids on every proof conversation, for every runtime, is the
proof; the first difference is named (a doubled or missing BOS is said so). A missing or extra leading BOS in a
runtime hubship cannot configure (llama-cpp-python's chat API never adds one) is a warning for the card, not a
failure; anywhere else every difference fails. Separately, every single special token that ends an assistant
turn must end generation in llama.cpp (is EOG) and, for Ollama, be a stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from hubship.domain.chat_template import ChatMessage
from hubship.domain.template_check import CONVERSATIONS

PROOF_CONVERSATIONS: dict[str, tuple[ChatMessage, ...]] = {n: c for n, c in CONVERSATIONS.items() if c[-1].role == "user"}
COMPLETION_TOKENS = 32
THRESHOLDS = {"chat_token_mismatches": {"max": 0}, "chat_end_of_turn_not_eog": {"max": 0}, "chat_end_of_turn_not_stop": {"max": 0}}


@attrs.frozen(kw_only=True)
class RuntimeVocab:
    """What llama.cpp reads from a GGUF's tokenizer: whether it adds BOS (and EOS), their texts, the chat template."""

    add_bos: bool
    bos: str | None
    eos: str | None
    template: str | None
    add_eos: bool = False


@attrs.frozen
class SpecialToken:
    """A special (control or user-defined) token, and whether llama.cpp ends generation on it."""

    text: str
    id: int
    eog: bool


@attrs.frozen
class Completion:
    """A short greedy chat completion: why it stopped (`stop`: an end-of-generation token), and its length."""

    finish_reason: str
    tokens: int
    text: str = ""


def bos_only(expected: Sequence[int], actual: Sequence[int], bos_id: int | None) -> bool:
    """The ids differ only by one leading BOS token added or dropped (never a doubled BOS)."""
    if bos_id is None or list(actual[:2]) == [bos_id, bos_id]:
        return False
    return list(actual) == [bos_id, *expected] or list(expected) == [bos_id, *actual]


def first_difference(expected: Sequence[int], actual: Sequence[int], bos_id: int | None) -> str:
    """One line: where `actual` (the runtime's ids) leaves `expected` (training's), BOS trouble named."""
    if bos_id is not None:
        if list(actual[:2]) == [bos_id, bos_id] and list(expected[:2]) != [bos_id, bos_id]:
            return "the prompt starts with two BOS tokens"
        if list(actual[:1]) == [bos_id] and list(actual[1:]) == list(expected):
            return "the runtime adds a BOS token the chat template does not write"
        if list(expected[:1]) == [bos_id] and list(actual) == list(expected[1:]):
            return "the runtime drops the BOS token the chat template writes"
    at = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b), min(len(expected), len(actual)))
    return f"ids differ at position {at}: training {list(expected[at : at + 4])} vs runtime {list(actual[at : at + 4])}"


@attrs.frozen(kw_only=True)
class TokenProof:
    """`runtime`: what was proven ("gguf": the GGUF's own template; "ollama": the Modelfile's TEMPLATE), `runtimes`
    the runtimes proven; `runtime_warnings` what a runtime feeds otherwise without hubship being able to
    set it (llama-cpp-python's leading BOS, llama-server's own Jinja engine and its defaults): card warnings, not
    failures; `bos_note` the BOS choice. `skipped` says why it did not run ("" when it ran)."""

    runtime: str
    conversations: int = 0
    mismatches: tuple[str, ...] = ()
    runtimes: tuple[str, ...] = ()
    runtime_warnings: tuple[str, ...] = ()
    bos_note: str = ""
    end_of_turn: tuple[SpecialToken, ...] = ()
    not_stop: tuple[str, ...] = ()
    completion: Completion | None = None
    add_bos: bool = False
    skipped: str = ""

    @property
    def not_eog(self) -> tuple[str, ...]:
        return tuple(t.text for t in self.end_of_turn if not t.eog)

    @property
    def passed(self) -> bool:
        return not self.skipped and not self.mismatches and not self.not_eog and not self.not_stop

    def problems(self) -> tuple[str, ...]:
        """One line per failure, for an error message or a card warning."""
        found = [f"token ids differ from training's in {m}" for m in self.mismatches]
        found += [f"the end-of-turn token {t} does not end generation in llama.cpp (not EOG)" for t in self.not_eog]
        found += [f"the end-of-turn token {t} is not a stop of the Modelfile" for t in self.not_stop]
        return tuple(found)

    def warnings(self) -> tuple[str, ...]:
        """The card's and manifest's warnings: each failure, and each runtime's leading-BOS difference."""
        return tuple(f"chat format at token level: {p}" for p in (*self.problems(), *self.runtime_warnings))

    def metrics(self) -> dict[str, Any]:
        if self.skipped:
            return {"chat_token_check": f"skipped: {self.skipped}"}
        found: dict[str, Any] = {
            "chat_token_check": "passed" if self.passed else "failed",
            "chat_token_conversations": self.conversations,
            "chat_token_mismatches": len(self.mismatches),
            "chat_end_of_turn": " ".join(t.text for t in self.end_of_turn) or "none",
            "chat_end_of_turn_not_eog": len(self.not_eog),
        }
        if self.runtimes:
            found["chat_token_runtimes"] = " ".join(self.runtimes)
        if self.runtime == "ollama":
            found["chat_end_of_turn_not_stop"] = len(self.not_stop)
        if self.completion is not None:
            found |= {"chat_completion_finish": self.completion.finish_reason, "chat_completion_tokens": self.completion.tokens}
        return found

    def notes(self) -> tuple[str, ...]:
        if self.skipped:
            return (f"the chat format was not proven at token level ({self.skipped})",)
        what = (
            f"the GGUF's own chat template as {' and '.join(self.runtimes) or 'llama.cpp'} feed it"
            if self.runtime == "gguf"
            else "the Modelfile's TEMPLATE as Ollama renders it"
        )
        bos = "adding the BOS token itself" if self.add_bos else "adding no BOS token"
        notes = [
            f"chat format proven at token level on {self.conversations} conversations: {what}, tokenized by llama.cpp as each"
            f" runtime feeds it (the GGUF {bos}, special tokens parsed), gives the ids of transformers' apply_chat_template"
            + (" on each" if self.passed and not self.runtime_warnings else ", except where the warnings say")
        ]
        if self.bos_note:
            notes.append(self.bos_note)
        if self.end_of_turn:
            stops = " and a stop of the Modelfile" if self.runtime == "ollama" else ""
            notes.append(f"end of turn {', '.join(t.text for t in self.end_of_turn)}: ends generation in llama.cpp (EOG){stops}")
        else:
            notes.append("no end-of-turn marker of the chat template is a single special token; generation stops on stop strings only")
        if self.completion is not None:
            notes.append(
                f"a greedy chat completion through llama-cpp-python's chat API ended with finish reason"
                f" `{self.completion.finish_reason}` after {self.completion.tokens} tokens (a report, not a gate)"
            )
        return tuple(notes)

    def verification(self) -> dict[str, Any]:
        """The `.verification.json` parts: metrics, the thresholds that gate them, notes, and warnings on failure."""
        return {
            "metrics": self.metrics(),
            "thresholds": {} if self.skipped else {k: v for k, v in THRESHOLDS.items() if k in self.metrics()},
            "notes": list(self.notes()),
            "warnings": list(self.warnings()),
        }
