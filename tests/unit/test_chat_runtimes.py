"""Each runtime fed as it really feeds a GGUF's model (domain.chat_runtimes), the BOS choice (domain.bos_choice), and
the proof run per runtime through fakes of the ports: one case per runtime where only that runtime goes wrong."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import attrs
import pytest

from hubship.application.chat_proof import CONVERSATIONS, bos_choice, prove_gguf, prove_ollama
from hubship.domain.bos_choice import BosChoice
from hubship.domain.chat_proof import RuntimeVocab, SpecialToken
from hubship.domain.chat_runtimes import LLAMA_CPP_PYTHON, LLAMA_SERVER, OLLAMA, fed_text
from hubship.domain.chat_template import ChatMessage, ChatProfile, ChatStructure
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.template_check import OllamaCase, RenderOutcome

SPECIALS = {"<s>": 1, "</s>": 2, "<|end|>": 3}
GGUF = Path("model.gguf")


def _ids(text: str) -> list[int]:
    """A toy tokenizer: special texts parsed, every other character its code point."""
    found, at = [], 0
    while at < len(text):
        special = next((s for s in SPECIALS if text.startswith(s, at)), None)
        found.append(SPECIALS[special] if special else ord(text[at]))
        at += len(special) if special else 1
    return found


def chatml(write_bos: bool) -> Callable[[Sequence[ChatMessage]], str]:
    def render(messages: Sequence[ChatMessage]) -> str:
        body = "".join(f"[{m.role}]{m.content}<|end|>" for m in messages) + "[assistant]"
        return ("<s>" if write_bos else "") + body

    return render


@attrs.define
class FakeRenderer:
    """The checkpoint's Jinja template and tokenizer: `render` writes the prompt, `tokenizer_adds` is tokenizer(text)'s BOS."""

    render_fn: Callable[[Sequence[ChatMessage]], str]
    tokenizer_adds: bool

    def profile(self, checkpoint, base) -> ChatProfile:
        tokens = {"bos_token": "<s>", "eos_token": "</s>"}
        return ChatProfile(template="t", tokens=tokens, add_bos=self.tokenizer_adds, bos_id=1, eos_tokens=("</s>",))

    def render(self, template, tokens, messages, *, add_generation_prompt, continue_final, clock=None) -> str:
        text = self.render_fn(messages)
        return text if add_generation_prompt else text.removesuffix("[assistant]")

    def token_ids(self, checkpoint, base, template, conversations, tools=(), variables=None) -> list[list[int] | None]:
        return [_ids(self.render_fn(c)) for c in conversations]  # apply_chat_template(tokenize=True): no BOS added


@attrs.define
class FakeRuntime:
    """llama.cpp on a GGUF whose add_bos/add_eos are given, serving `render_fn` as its embedded template."""

    render_fn: Callable[[Sequence[ChatMessage]], str]
    add_bos: bool
    add_eos: bool = False

    def vocab(self, gguf: Path) -> RuntimeVocab:
        return RuntimeVocab(add_bos=self.add_bos, add_eos=self.add_eos, bos="<s>", eos="</s>", template="t")

    def render(self, gguf: Path, conversations) -> list[RenderOutcome]:
        return [RenderOutcome(text=self.render_fn(c)) for c in conversations]

    def tokenize(self, gguf: Path, texts: Sequence[str], *, add_special: bool) -> list[list[int]]:
        head = [1] if add_special and self.add_bos else []
        tail = [2] if add_special and self.add_eos else []
        return [head + _ids(t) + tail for t in texts]

    def special_tokens(self, gguf: Path, text: str) -> list[SpecialToken]:
        return [SpecialToken(next(k for k, v in SPECIALS.items() if v == i), i, i != 1) for i in _ids(text) if i in SPECIALS.values()]

    def complete(self, gguf, messages, max_tokens):  # pragma: no cover - the proofs here run without completion
        raise AssertionError("not called")


@attrs.define
class FakeGo:
    """The Modelfile's TEMPLATE rendered by Go: here a Python function standing for the derived TEMPLATE."""

    template_fn: Callable[[Sequence[ChatMessage]], str]

    def version(self) -> str:
        return "go1.19"

    def render(self, template: str, cases: Sequence[OllamaCase]) -> list[RenderOutcome]:
        return [RenderOutcome(text=self.template_fn(c.messages)) for c in cases]


CHECKPOINT: Checkpoint = "checkpoint"  # type: ignore[assignment]  # the fakes never read them
BASE: BaseInfo = "base"  # type: ignore[assignment]


@attrs.frozen
class Derived:
    """What prove_ollama reads of an OllamaTemplate."""

    template: str = "{{ .Messages }}"
    structure: ChatStructure = attrs.field(factory=lambda: ChatStructure(glue={}, assistant_end="<|end|>"))
    system: str | None = None
    stops: tuple[str, ...] = ("<|end|>",)


def test_each_runtime_feeds_a_render_its_own_way():
    adds = RuntimeVocab(add_bos=True, add_eos=True, bos="<s>", eos="</s>", template="t")
    assert fed_text(LLAMA_SERVER, "<s>hi</s>", adds) == "hi"  # common/chat.cpp cuts both when it adds them
    assert fed_text(LLAMA_CPP_PYTHON, "<s>hi</s>", adds) == "<s>hi</s>"
    assert fed_text(OLLAMA, "<s>hi</s>", adds) == "<s>hi</s>"
    assert fed_text(LLAMA_SERVER, "<s>hi</s>", attrs.evolve(adds, add_bos=False, add_eos=False)) == "<s>hi</s>"
    assert (LLAMA_SERVER.adds_special, OLLAMA.adds_special, LLAMA_CPP_PYTHON.adds_special) == (True, True, False)


@pytest.mark.parametrize(
    ("policy", "tokenizer_adds", "template_writes", "add_bos", "prepends"),
    [
        ("tokenizer", True, False, True, True),  # Zephyr-style template on a Llama tokenizer, text-field SFT
        ("template", True, False, False, False),  # the same, trained on apply_chat_template(tokenize=True)
        ("tokenizer", True, True, True, False),  # the template writes it: one BOS, never two
        ("template", False, True, True, False),
        ("tokenizer", False, False, False, False),
    ],
)
def test_the_bos_choice_decides_add_bos_and_whether_a_bos_goes_in_front(policy, tokenizer_adds, template_writes, add_bos, prepends):
    choice = BosChoice(policy=policy, tokenizer_adds=tokenizer_adds, template_writes=template_writes, bos="<s>")
    assert (choice.add_bos, choice.prepends_bos) == (add_bos, prepends)
    assert choice.note().startswith(f"BOS (--bos {policy}): the runtimes feed")


def test_the_bos_note_names_what_the_other_choice_would_feed():
    choice = BosChoice(policy="tokenizer", tokenizer_adds=True, template_writes=False, bos="<s>")
    assert "a BOS token (<s>) before the template's text" in choice.note() and "--bos template would feed no BOS token" in choice.note()
    no_bos = BosChoice(policy="tokenizer", tokenizer_adds=True, template_writes=False, bos=None)
    assert not no_bos.add_bos and "would feed the same" in no_bos.note()
    with pytest.raises(ValueError):
        BosChoice(policy="always", tokenizer_adds=True, template_writes=False, bos="<s>")


def test_bos_choice_reads_whether_the_template_writes_the_bos():
    assert bos_choice(FakeRenderer(chatml(True), False), CHECKPOINT, BASE, "tokenizer").template_writes
    assert not bos_choice(FakeRenderer(chatml(False), True), CHECKPOINT, BASE, "tokenizer").template_writes


def _gguf_proof(write_bos: bool, tokenizer_adds: bool, policy: str, add_bos: bool | None = None, add_eos: bool = False):
    renderer = FakeRenderer(chatml(write_bos), tokenizer_adds)
    choice = bos_choice(renderer, CHECKPOINT, BASE, policy)
    runtime = FakeRuntime(chatml(write_bos), choice.add_bos if add_bos is None else add_bos, add_eos)
    return prove_gguf(renderer, runtime, CHECKPOINT, BASE, GGUF, complete=False, bos=choice), renderer, runtime, choice


def test_only_llama_cpp_python_goes_wrong_when_the_runtime_must_add_a_bos_the_template_does_not_write():
    proof, *_ = _gguf_proof(write_bos=False, tokenizer_adds=True, policy="tokenizer")
    assert proof.passed and proof.runtimes == ("llama-server", "llama-cpp-python")
    assert len(proof.runtime_warnings) == 1 and proof.runtime_warnings[0].startswith("llama-cpp-python's chat API feeds other ids")
    assert "the runtime drops the BOS token" in proof.runtime_warnings[0]
    assert any("chat format at token level: llama-cpp-python" in w for w in proof.verification()["warnings"])
    template, *_ = _gguf_proof(write_bos=False, tokenizer_adds=True, policy="template")
    assert template.passed and not template.runtime_warnings


def test_only_ollama_goes_wrong_when_the_template_writes_the_bos_the_gguf_adds():
    proof, renderer, runtime, choice = _gguf_proof(write_bos=True, tokenizer_adds=True, policy="tokenizer")
    assert proof.passed and not proof.runtime_warnings  # llama-server cuts the BOS text, llama-cpp-python adds none
    doubled = FakeGo(chatml(True))  # a TEMPLATE that kept the BOS text although the GGUF adds BOS
    ollama = prove_ollama(renderer, runtime, doubled, CHECKPOINT, BASE, GGUF, Derived(), choice)
    assert not ollama.passed and "ollama, single turn: the prompt starts with two BOS tokens" in ollama.mismatches
    derived = prove_ollama(renderer, runtime, FakeGo(chatml(False)), CHECKPOINT, BASE, GGUF, Derived(), choice)
    assert derived.passed and derived.runtimes == ("ollama",)


def test_a_gguf_that_adds_eos_fails_the_runtimes_that_add_special_tokens_only():
    proof, *_ = _gguf_proof(write_bos=True, tokenizer_adds=False, policy="tokenizer", add_eos=True)
    assert not proof.passed and all(m.startswith("llama-server, ") for m in proof.mismatches)


def test_a_gguf_whose_add_bos_disagrees_with_the_choice_fails_where_hubship_configures_the_runtime():
    proof, *_ = _gguf_proof(write_bos=False, tokenizer_adds=True, policy="tokenizer", add_bos=False)
    assert not proof.passed and proof.mismatches[0].startswith("llama-server, single turn: the runtime drops the BOS token")
    assert len(CONVERSATIONS) == proof.conversations


@attrs.define
class FakeServed:
    """llama-server on the built file: renders with a given function (its own Jinja engine), or is not built."""

    render_fn: Callable[[Sequence[ChatMessage]], str] | None
    closed: int = 0

    def render(self, gguf, conversations, *, tools=(), thinking=None) -> list[RenderOutcome]:
        if self.render_fn is None:
            from hubship.domain.errors import UserInputError

            raise UserInputError("llama-server is not installed; run `make setup`")
        return [RenderOutcome(text=self.render_fn(c)) for c in conversations]

    def tokenize(self, gguf, texts) -> list[list[int]]:
        return [[1, *_ids(t)] for t in texts]  # the server's prompt is already cut, and it adds BOS (add_bos here)

    def close(self) -> None:
        self.closed += 1


def test_llama_server_itself_is_run_on_the_file_and_its_own_differences_are_warnings():
    renderer = FakeRenderer(chatml(True), True)
    choice = bos_choice(renderer, CHECKPOINT, BASE, "tokenizer")
    runtime = FakeRuntime(chatml(True), True)
    same = FakeServed(lambda c: chatml(True)(c).removeprefix("<s>"))
    proof = prove_gguf(renderer, runtime, CHECKPOINT, BASE, GGUF, complete=False, bos=choice, served=same)
    assert proof.passed and proof.runtimes[-1] == "llama-server (run)" and not proof.runtime_warnings and same.closed == 1
    dated = FakeServed(lambda c: "[date]" + chatml(False)(c))  # its engine writes what transformers does not
    proof = prove_gguf(renderer, runtime, CHECKPOINT, BASE, GGUF, complete=False, bos=choice, served=dated)
    assert proof.passed and proof.runtime_warnings[0].startswith("llama-server's own Jinja engine feeds other ids than training in 7")
    missing = prove_gguf(renderer, runtime, CHECKPOINT, BASE, GGUF, complete=False, bos=choice, served=FakeServed(None))
    assert missing.runtimes == ("llama-server", "llama-cpp-python") and "was not run on this GGUF" in missing.runtime_warnings[0]
