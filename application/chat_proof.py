"""The token-level proof of a published chat format (domain.chat_proof), for a GGUF and for the Ollama model
built from it, against the ids transformers' `apply_chat_template` gives with the checkpoint's tokenizer.

At plan time the proof runs on the vocab-only GGUF of the converter's preflight (the same tokenizer and
template the published GGUF gets), so a broken chat format stops the publish before any merge; at build
time on the GGUF itself, with the greedy chat completion recorded. `gate` turns a failure into exit 3.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.domain.chat_learning import assistant_end
from hubship.domain.chat_proof import COMPLETION_TOKENS, PROOF_CONVERSATIONS, TokenProof, first_difference, runtime_prompt
from hubship.domain.chat_template import ChatProfile
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import QualityGateFailed
from hubship.domain.template_check import OllamaCase, RenderOutcome
from hubship.ports.chat_renderer import ChatRenderer
from hubship.ports.chat_runtime import ChatRuntime
from hubship.ports.go_template_renderer import GoTemplateRenderer

NAMES = tuple(PROOF_CONVERSATIONS)
CONVERSATIONS = tuple(PROOF_CONVERSATIONS.values())


def vocab_gguf(checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any]) -> Path:
    """The vocab-only GGUF of the tokenizer the merged model will carry (the converter's preflight, kept)."""
    with tempfile.TemporaryDirectory(prefix="hubship-gguf-tokenizer-") as tmp:
        services["saver"].save_tokenizer(checkpoint, base, Path(tmp))
        return services["converter"].check(Path(base.path), Path(tmp))


def _compare(
    runtime: ChatRuntime, gguf: Path, expected: list[list[int] | None], renders: list[RenderOutcome]
) -> tuple[int, tuple[str, ...]]:
    """(conversations compared, one line per mismatch): each render cut as the runtime cuts it, then tokenized."""
    vocab = runtime.vocab(gguf)
    bos = runtime.special_tokens(gguf, vocab.bos) if vocab.bos else []
    texts = [runtime_prompt(r.text, vocab) for r in renders if r.text is not None]
    ids = iter(runtime.tokenize(gguf, texts))
    compared, mismatches = 0, []
    for name, want, render in zip(NAMES, expected, renders, strict=True):
        got = next(ids) if render.text is not None else None
        if want is None or got is None:
            if (want is None) != (got is None):
                side = "the runtime's template rejects it" if got is None else "transformers rejects it"
                mismatches.append(f"{name}: {side} ({render.error or 'rejected'})")
            continue
        compared += 1
        if want != got:
            mismatches.append(f"{name}: {first_difference(want, got, bos[0].id if len(bos) == 1 else None)}")
    return compared, tuple(mismatches)


def _end_of_turn(renderer: ChatRenderer, runtime: ChatRuntime, profile: ChatProfile, gguf: Path):
    assert profile.template is not None
    template = profile.template

    def render(messages, **mode: Any) -> str:
        return renderer.render(template, profile.tokens, messages, **mode)

    return tuple(runtime.special_tokens(gguf, assistant_end(render, profile.runtime_bos)))


def prove_gguf(
    renderer: ChatRenderer, runtime: ChatRuntime, checkpoint: Checkpoint, base: BaseInfo, gguf: Path, *, complete: bool
) -> TokenProof:
    """The GGUF's own chat template, as llama-cpp-python serves it, against training's ids; with `complete`, a
    greedy chat completion is recorded too (needs the weights)."""
    profile = renderer.profile(checkpoint, base)
    vocab = runtime.vocab(gguf)
    if profile.template is None or vocab.template is None:
        return TokenProof(runtime="gguf", skipped="the checkpoint has no chat template")
    expected = renderer.token_ids(checkpoint, base, profile.template, CONVERSATIONS)
    compared, mismatches = _compare(runtime, gguf, expected, runtime.render(gguf, CONVERSATIONS))
    return TokenProof(
        runtime="gguf",
        conversations=compared,
        mismatches=mismatches,
        end_of_turn=_end_of_turn(renderer, runtime, profile, gguf),
        completion=runtime.complete(gguf, CONVERSATIONS[0], COMPLETION_TOKENS) if complete else None,
        add_bos=vocab.add_bos,
    )


def prove_ollama(
    renderer: ChatRenderer,
    runtime: ChatRuntime,
    go: GoTemplateRenderer,
    checkpoint: Checkpoint,
    base: BaseInfo,
    gguf: Path,
    derived: Any,
) -> TokenProof:
    """The Modelfile's TEMPLATE (SYSTEM injected as Ollama does), tokenized with the GGUF's vocabulary, against
    training's ids; every end-of-turn token must be EOG and a stop of the Modelfile. `derived`: an OllamaTemplate."""
    if derived.template is None or derived.structure is None:
        return TokenProof(runtime="ollama", skipped="Ollama's generic template is used (--allow-generic-template)")
    if go.version() is None:
        return TokenProof(runtime="ollama", skipped="Go is not installed (Debian: apt-get install golang-go)")
    profile = renderer.profile(checkpoint, base)
    assert profile.template is not None
    expected = renderer.token_ids(checkpoint, base, profile.template, CONVERSATIONS)
    renders = go.render(derived.template, [OllamaCase(c, derived.system or "") for c in CONVERSATIONS])
    compared, mismatches = _compare(runtime, gguf, expected, renders)
    end = tuple(runtime.special_tokens(gguf, derived.structure.assistant_end))
    return TokenProof(
        runtime="ollama",
        conversations=compared,
        mismatches=mismatches,
        end_of_turn=end,
        not_stop=tuple(t.text for t in end if t.text not in derived.stops),
        add_bos=runtime.vocab(gguf).add_bos,
    )


def gate(proof: TokenProof, what: str) -> None:
    """Raise QualityGateFailed (exit 3) when the proof failed; one line naming the first problem."""
    if proof.skipped or proof.passed:
        return
    problems = proof.problems()
    raise QualityGateFailed(
        f"quality gate failed: the chat format of {what} is wrong at token level ({problems[0]}"
        f"{f'; and {len(problems) - 1} more' if len(problems) > 1 else ''}); fix the chat template or the tokenizer,"
        " or pass --accept-quality-loss to publish anyway"
    )
