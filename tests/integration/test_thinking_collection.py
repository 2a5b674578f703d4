"""Thinking on real templates from llama.cpp's collection, rendered in Go and Jinja: the think switch where each writes
it (SmolLM3's system turn, DeepSeek V3.2's last assistant turn, gemma-4's own system turn), reasoning dropped by a
setting (Laguna-S off), shown in the final message only (gpt-oss) or dropped with a trace (Nemotron 3), and the tags
Ollama infers from the TEMPLATE."""

from __future__ import annotations

import shutil

import pytest

from hubship.application.ollama_template import check_template, derive_ollama_template
from hubship.domain.chat_template import ChatMessage
from hubship.domain.template_check import OllamaCase
from tests.support.template_collection import profile_for, templates_dir

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
SETTINGS = (None, True, False)
ASK, AGAIN = ChatMessage("user", "What is 2+2?"), ChatMessage("user", "And 3+3?")
ANSWER = ChatMessage("assistant", "4", thinking="Add the numbers.")
CONVERSATIONS = {
    "generation prompt": (ASK,),
    "answered turn": (ASK, ANSWER, AGAIN),
    "prefill with reasoning": (ASK, ANSWER, AGAIN, ChatMessage("assistant", "6", thinking="Add again.")),
}
# name: (switch translated, reasoning shown, thinking tags Ollama infers)
EXPECTED = {
    "HuggingFaceTB-SmolLM3-3B": (True, False, ("<think>", "</think>")),  # the empty pair of its prompt, think off
    "deepseek-ai-DeepSeek-V3.2": (True, True, ("<think>", "</think>")),  # reasoning in a prefill with the switch on
    "google-gemma-4-31B-it": (True, False, None),  # `<|channel>thought`/`<channel|>`: no mirrored pair
    "GLM-4.7-Flash": (True, True, ("<think>", "</think>")),
    "Cohere2MoE": (False, True, ("<|START_THINKING|>", "<|END_THINKING|><|START_TEXT|>")),
    "poolside-Laguna-S-2.1": (True, True, ("<think>", "</think>")),
    "openai-gpt-oss-120b": (False, True, ("<|channel|>analysis<|message|>", "<|end|><|start|>assistant<|channel|>final<|message|>")),
    "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16": (True, True, ("<think>", "</think>")),
}


def profile(name):
    path = templates_dir() / f"{name}.jinja"
    assert path.is_file(), f"{path} is missing: run `make setup`"
    return profile_for(path.read_text(encoding="utf-8"))


def _jinja(renderer, p, messages, think):
    prefill = messages[-1].role == "assistant"
    text = renderer.render(p.template, p.tokens, list(messages), add_generation_prompt=not prefill, continue_final=prefill, think=think)
    return text[len(p.runtime_bos) :] if p.runtime_bos and text.startswith(p.runtime_bos) else text


@pytest.fixture(scope="module")
def derived(renderer, go):
    return {name: derive_ollama_template(renderer, go, profile(name), allow_generic=False) for name in EXPECTED}


@pytest.mark.parametrize("name", EXPECTED)
def test_each_setting_renders_as_the_chat_template_does(name, derived, renderer, go):
    d, p = derived[name], profile(name)
    cases = [(label, messages, think) for label, messages in CONVERSATIONS.items() for think in SETTINGS]
    rendered = go.render(d.template, [OllamaCase(messages, think=think) for _, messages, think in cases])
    for (label, messages, think), outcome in zip(cases, rendered, strict=True):
        assert outcome.text == _jinja(renderer, p, messages, think), f"{label} (think {think})"


@pytest.mark.parametrize("name", EXPECTED)
def test_the_card_says_what_is_translated_and_ollama_reads_the_tags(name, derived, go):
    switch, shown, tags = EXPECTED[name]
    d = derived[name]
    notes = " ".join(n for n in d.notes if n.startswith("thinking:") and not n.startswith("thinking: in a conversation with tools"))
    assert ("changes the prompt where the chat template does" in notes) == switch
    assert ("is written for" in notes) == shown and "not translated" not in notes and "not written" not in notes
    found = go.tags(d.template)
    assert ((found.thinking_open, found.thinking_close) if found.thinking else None) == tags
    assert ("thinking" in d.capabilities) == (tags is not None)


def test_the_switch_is_picked_by_the_request_not_fixed(derived, renderer, go):
    """SmolLM3 writes `/no_think` in its system turn: without the switch point the proof fails for think off."""
    d, p = derived["HuggingFaceTB-SmolLM3-3B"], profile("HuggingFaceTB-SmolLM3-3B")
    assert "Reasoning Mode: /no_think" in _jinja(renderer, p, (ASK,), False)
    fixed = d.template.replace("{{ if and $.IsThinkSet (not $.Think) }}", "{{ if false }}")
    assert fixed != d.template
    report = check_template(renderer, go, p, fixed, d.structure, (None,), SETTINGS)
    assert report.status == "failed" and all("(think off)" in m for m in report.mismatches)


def test_tags_declared_for_a_template_that_drops_reasoning_never_render(derived, renderer, go):
    """SmolLM3 drops reasoning in history: the TEMPLATE names `<think>`/`</think>` for Ollama in a block that never
    renders, so a reasoning in history is dropped as the chat template drops it."""
    d, p = derived["HuggingFaceTB-SmolLM3-3B"], profile("HuggingFaceTB-SmolLM3-3B")
    assert "{{- if false }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ end }}" in d.template
    for think in SETTINGS:
        (answered,) = go.render(d.template, [OllamaCase(CONVERSATIONS["prefill with reasoning"], think=think)])
        assert answered.text == _jinja(renderer, p, CONVERSATIONS["prefill with reasoning"], think)
        assert "Add" not in answered.text
    assert any("in a block that never renders" in n for n in d.notes)


def test_older_reasoning_is_dropped_where_the_template_drops_it(derived, go):
    (answered,) = go.render(derived["openai-gpt-oss-120b"].template, [OllamaCase(CONVERSATIONS["answered turn"])])
    (prefill,) = go.render(derived["openai-gpt-oss-120b"].template, [OllamaCase(CONVERSATIONS["prefill with reasoning"])])
    assert "Add the numbers." not in answered.text and "Add the numbers." not in prefill.text and "Add again." in prefill.text
    (off,) = go.render(derived["poolside-Laguna-S-2.1"].template, [OllamaCase(CONVERSATIONS["answered turn"], think=False)])
    (on,) = go.render(derived["poolside-Laguna-S-2.1"].template, [OllamaCase(CONVERSATIONS["answered turn"], think=True)])
    assert "Add the numbers." in on.text and "Add the numbers." not in off.text
