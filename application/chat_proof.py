"""The token-level proof of a published chat format (domain.chat_proof), for a GGUF and for the Ollama model
built from it, against the ids training saw: transformers' `apply_chat_template` with the checkpoint's
tokenizer, with a BOS in front where the stated BOS choice says so (domain.bos_choice).

Each runtime is modelled as it feeds the model (domain.chat_runtimes): the GGUF's own template as llama-server
and llama-cpp-python's chat API feed it, the Modelfile's TEMPLATE as Ollama does. At plan time the proof runs on
the vocab-only GGUF of the converter's preflight (the same tokenizer, template and add_bos_token the published
GGUF gets), so a broken chat format stops the publish before any merge; at build time on the GGUF itself, with
the greedy chat completion recorded. `gate` turns a failure into exit 3.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubship.application.chat_inputs import proof_inputs
from hubship.domain.bos_choice import BosChoice
from hubship.domain.chat_learning import assistant_end
from hubship.domain.chat_proof import COMPLETION_TOKENS, PROOF_CONVERSATIONS, TokenProof, bos_only, first_difference
from hubship.domain.chat_runtimes import GGUF_RUNTIMES, OLLAMA, ChatRuntimeRule, fed_text
from hubship.domain.chat_template import ChatProfile, TemplateRejected
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import QualityGateFailed, UserInputError
from hubship.domain.gguf_tokenizer import TokenizerSettings
from hubship.domain.template_check import OllamaCase, RenderOutcome
from hubship.ports.chat_renderer import ChatRenderer
from hubship.ports.chat_runtime import ChatRuntime
from hubship.ports.go_template_renderer import GoTemplateRenderer
from hubship.ports.served_chat import ServedChat

NAMES = tuple(PROOF_CONVERSATIONS)
CONVERSATIONS = tuple(PROOF_CONVERSATIONS.values())


def bos_choice(renderer: ChatRenderer, checkpoint: Checkpoint, base: BaseInfo, policy: str) -> BosChoice:
    """The BOS choice under `policy` (--bos): the tokenizer's own behaviour and whether the template writes the BOS."""
    profile = renderer.profile(checkpoint, base)
    writes = False
    if profile.template is not None and profile.bos:
        try:
            text = renderer.render(profile.template, profile.tokens, CONVERSATIONS[0], add_generation_prompt=True, continue_final=False)
        except TemplateRejected:
            text = ""
        writes = text.startswith(profile.bos)
    return BosChoice(policy=policy, tokenizer_adds=profile.add_bos, template_writes=writes, bos=profile.bos)


def gguf_settings(
    renderer: ChatRenderer, checkpoint: Checkpoint, base: BaseInfo, bos: BosChoice, name: str | None = None
) -> TokenizerSettings:
    """What hubship writes into the GGUF's tokenizer: the BOS choice, the `▁` after special tokens as the
    checkpoint's tokenizer does it, and the `general.name` for `name` that strips after them as it does
    (domain.gguf_tokenizer)."""
    profile = renderer.profile(checkpoint, base)
    return TokenizerSettings(
        add_bos=bos.add_bos, add_space_prefix=profile.space_after_special, strip_after_special=profile.strip_after_special, name=name
    )


def vocab_gguf(checkpoint: Checkpoint, base: BaseInfo, services: Mapping[str, Any], bos: BosChoice) -> Path:
    """The vocab-only GGUF of the tokenizer the merged model will carry, with hubship's tokenizer settings (the
    converter's preflight, kept)."""
    settings = gguf_settings(services["chat_renderer"], checkpoint, base, bos)
    with tempfile.TemporaryDirectory(prefix="hubship-gguf-tokenizer-") as tmp:
        services["saver"].save_tokenizer(checkpoint, base, Path(tmp))
        return services["converter"].check(Path(base.path), Path(tmp), settings=settings)


TOOLS_ONLY = (
    "the chat template fails on every proof conversation without tools (a tool-use template such as Hermes 2 Pro's or"
    " FireFunction's), so the GGUF's own template, which llama.cpp's chat runtimes render without tools, is not proven"
)


def _expected(
    renderer: ChatRenderer, checkpoint: Checkpoint, base: BaseInfo, profile: ChatProfile, bos: BosChoice, inputs: str = ""
) -> list[list[int] | None]:
    """Training's ids of each proof conversation: the template's (with what it needs beyond the conversation, `inputs`
    of chat_inputs), with the BOS in front where the choice says so."""
    assert profile.template is not None
    found = renderer.token_ids(checkpoint, base, profile.template, CONVERSATIONS, *proof_inputs(inputs))
    if not bos.prepends_bos or profile.bos_id is None:
        return found
    return [None if ids is None else [profile.bos_id, *ids] for ids in found]


def _compare(
    runtime: ChatRuntime, rule: ChatRuntimeRule, gguf: Path, expected: list[list[int] | None], renders: Sequence[RenderOutcome]
) -> tuple[int, list[str], list[str]]:
    """(conversations compared, mismatches, leading-BOS warnings) of one runtime: each render fed as it feeds it."""
    vocab = runtime.vocab(gguf)
    bos = runtime.special_tokens(gguf, vocab.bos) if vocab.bos else []
    bos_id = bos[0].id if len(bos) == 1 else None
    texts = [fed_text(rule, r.text, vocab) for r in renders if r.text is not None]
    ids = iter(runtime.tokenize(gguf, texts, add_special=rule.adds_special))
    compared, mismatches, warnings = 0, [], []
    for name, want, render in zip(NAMES, expected, renders, strict=True):
        got = next(ids) if render.text is not None else None
        if want is None or got is None:
            if (want is None) != (got is None):
                side = "the runtime's template rejects it" if got is None else "transformers rejects it"
                mismatches.append(f"{name}: {side} ({render.error or 'rejected'})")
            continue
        compared += 1
        if want == got:
            continue
        line = f"{name}: {first_difference(want, got, bos_id)}"
        (warnings if not rule.configurable and bos_only(want, got, bos_id) else mismatches).append(line)
    if warnings:
        warnings = [
            f"{rule.label} feeds other ids than training in {len(warnings)} conversations, by one leading BOS token only"
            f" ({warnings[0]}); it cannot be told otherwise: add or drop that BOS yourself there, or serve with llama-server or Ollama"
        ]
    return compared, [f"{rule.name}, {m}" for m in mismatches], warnings


def _served(served: ServedChat, gguf: Path, expected: list[list[int] | None]) -> tuple[str, list[str]]:
    """llama-server itself on the built GGUF (its own C++ Jinja engine, its cut, its ids): (what ran, warnings). Its
    differences are warnings: it also writes today's date and decides `enable_thinking` itself, which no file of
    hubship's can set; the modelled llama-server feeding is what gates."""
    try:
        renders = served.render(gguf, CONVERSATIONS)
        ids = iter(served.tokenize(gguf, [r.text for r in renders if r.text is not None]))
    except UserInputError as exc:  # not built here: the modelled feeding stands alone
        return "", [f"llama-server itself was not run on this GGUF ({exc})"]
    finally:
        served.close()  # one model in memory at a time, however many GGUFs a publish proves
    differ = []
    for name, want, render in zip(NAMES, expected, renders, strict=True):
        got = next(ids) if render.text is not None else None
        if got != want and want is not None:
            differ.append(f"{name}: {render.error}" if got is None else f"{name}: {first_difference(want, got, None)}")
    if not differ:
        return "llama-server (run)", []
    return "llama-server (run)", [
        f"llama-server's own Jinja engine feeds other ids than training in {len(differ)} of {len(NAMES)} conversations"
        f" ({differ[0]}); its built-in defaults (today's date, enable_thinking) or a Jinja feature it lacks may cause it"
    ]


def _end_of_turn(renderer: ChatRenderer, runtime: ChatRuntime, profile: ChatProfile, gguf: Path):
    assert profile.template is not None
    template = profile.template

    def render(messages, **mode: Any) -> str:
        return renderer.render(template, profile.tokens, messages, **mode)

    return tuple(runtime.special_tokens(gguf, assistant_end(render, profile.runtime_bos)))


def prove_gguf(
    renderer: ChatRenderer,
    runtime: ChatRuntime,
    checkpoint: Checkpoint,
    base: BaseInfo,
    gguf: Path,
    *,
    complete: bool,
    bos: BosChoice,
    served: ServedChat | None = None,
    name: str | None = None,
) -> TokenProof:
    """The GGUF's own chat template, as llama-server and llama-cpp-python's chat API feed it, against training's ids;
    with `complete`, a greedy chat completion is recorded too, and with `served` llama-server itself is run on the
    GGUF (both need the weights); `name`, the publish's, for the settings' notes."""
    profile = renderer.profile(checkpoint, base)
    vocab = runtime.vocab(gguf)
    if profile.template is None or vocab.template is None:
        return TokenProof(runtime="gguf", skipped="the checkpoint has no chat template")
    expected = _expected(renderer, checkpoint, base, profile, bos)
    if all(ids is None for ids in expected):
        return TokenProof(runtime="gguf", skipped=TOOLS_ONLY)
    renders = runtime.render(gguf, CONVERSATIONS)
    compared, mismatches, warnings = 0, [], []
    for rule in GGUF_RUNTIMES:
        compared, found, warned = _compare(runtime, rule, gguf, expected, renders)
        mismatches += found
        warnings += warned
    ran, warned = _served(served, gguf, expected) if served is not None else ("", [])
    return TokenProof(
        runtime="gguf",
        conversations=compared,
        mismatches=tuple(mismatches),
        runtimes=(*(rule.name for rule in GGUF_RUNTIMES), *([ran] if ran else [])),
        runtime_warnings=(*warnings, *warned),
        settings_notes=(bos.note(), *gguf_settings(renderer, checkpoint, base, bos, name).notes()),
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
    bos: BosChoice,
) -> TokenProof:
    """The Modelfile's TEMPLATE (SYSTEM injected as Ollama does), fed as Ollama feeds it with the GGUF's vocabulary,
    against training's ids; every end-of-turn token must be EOG and a stop of the Modelfile. `derived`: an OllamaTemplate."""
    if derived.template is None or derived.structure is None:
        return TokenProof(runtime="ollama", skipped="Ollama's generic template is used (--allow-generic-template)")
    if go.version() is None:
        return TokenProof(runtime="ollama", skipped="Go is not installed (Debian: apt-get install golang-go)")
    profile = renderer.profile(checkpoint, base)
    expected = _expected(renderer, checkpoint, base, profile, bos, derived.structure.inputs)
    renders = go.render(derived.template, [OllamaCase(c, derived.system or "") for c in CONVERSATIONS])
    compared, mismatches, warnings = _compare(runtime, OLLAMA, gguf, expected, renders)
    end = tuple(runtime.special_tokens(gguf, derived.structure.assistant_end))
    return TokenProof(
        runtime="ollama",
        conversations=compared,
        mismatches=tuple(mismatches),
        runtimes=(OLLAMA.name,),
        runtime_warnings=tuple(warnings),
        settings_notes=(bos.note(), *gguf_settings(renderer, checkpoint, base, bos).notes()),
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
