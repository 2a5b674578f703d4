"""Thinking learned from plain-Python chat templates: the think switch wherever a template writes it (chat_switch),
reasoning shown in the final message only or dropped with a trace, and the tags Ollama reads (chat_thinking)."""

from __future__ import annotations

import attrs
import pytest

from hubship.application.ollama_thinking import learn_thinking
from hubship.domain.chat_learning import derive_structure
from hubship.domain.chat_switch import graft_reasoning, merge_switch, prompt_tags, switch_mark
from hubship.domain.chat_template import ChatStructure, TemplateNotDerivable, TemplateRejected
from hubship.domain.chat_thinking import opening_at
from hubship.domain.go_template import emit_go_template


def _chat(messages, continue_final, add_generation_prompt, head, turn, prompt, later_system=False):
    """A ChatML-like layout: `head` before the turns, `turn(i, m, last_user, n)` each message, `prompt` the generation
    prompt; a prefill stops after the last content."""
    if not later_system and any(m.role == "system" for m in messages[1:]):
        raise TemplateRejected("system messages only come first")
    system = messages[0].content if messages and messages[0].role == "system" else ""
    turns = messages[1:] if system else messages
    last_user = max((i for i, m in enumerate(turns) if m.role == "user"), default=-1)
    out = head(system) + "".join(turn(i, m, last_user, len(turns)) for i, m in enumerate(turns))
    if continue_final:
        return out[: out.rindex(turns[-1].content) + len(turns[-1].content)]
    return out + (prompt if add_generation_prompt else "")


def smol(messages, *, add_generation_prompt, continue_final, clock=None, think=None, tools=()):
    """SmolLM3-shaped: the switch in the system turn and as an empty think block in the generation prompt; reasoning
    after the last user message only."""

    def turn(i, m, last_user, n):
        shown = m.role == "assistant" and m.thinking and i > last_user
        return f"<|im_start|>{m.role}\n" + (f"<think>\n{m.thinking}\n</think>\n" if shown else "") + f"{m.content}<|im_end|>\n"

    mode = "/no_think" if think is False else "/think"
    return _chat(
        messages,
        continue_final,
        add_generation_prompt,
        lambda system: f"<|im_start|>system\nReasoning Mode: {mode}\n\n{system}<|im_end|>\n",
        turn,
        "<|im_start|>assistant\n" + ("<think>\n\n</think>\n" if think is False else ""),
    )


def glm(messages, *, add_generation_prompt, continue_final, clock=None, think=None, tools=()):
    """GLM-4.7-shaped: `<think>` opens in the generation prompt, a reply without reasoning has `</think>` alone."""

    def turn(i, m, last_user, n):
        if m.role != "assistant":
            return f"<|{m.role}|>{m.content}"
        return "<|assistant|>" + (f"<think>{m.thinking}</think>" if m.thinking and i > last_user else "</think>") + m.content

    return _chat(messages, continue_final, add_generation_prompt, lambda s: f"<|system|>{s}" if s else "", turn, "<|assistant|><think>")


def harmony(messages, *, add_generation_prompt, continue_final, clock=None, think=None, tools=()):
    """gpt-oss-shaped: reasoning is written for a final (prefilled) assistant message only."""

    def turn(i, m, last_user, n):
        channel = f"<|channel|>analysis<|message|>{m.thinking}<|end|><|start|>assistant" if m.thinking and i == n - 1 else ""
        final = "<|channel|>final<|message|>" if m.role == "assistant" else "<|message|>"
        return f"<|start|>{m.role}{channel}{final}{m.content}<|end|>"

    return _chat(
        messages,
        continue_final and not add_generation_prompt,
        add_generation_prompt,
        lambda s: f"<|start|>system<|message|>{s}<|end|>",
        turn,
        "<|start|>assistant",
        later_system=True,
    )


def _derived(render):
    base = derive_structure(render, None)
    thinking = learn_thinking(render, None, base)
    return thinking, emit_go_template(thinking.structure, None, thinking.extension)


def test_a_switch_in_the_system_turn_becomes_a_switch_point_picked_by_think():
    thinking, go = _derived(smol)
    assert not thinking.refusals and thinking.tails is not None
    assert {"no_"} <= {texts[False] for texts in thinking.tails.values()}
    assert all(texts[None] == texts[True] for texts in thinking.tails.values())
    assert "$.IsThinkSet (not $.Think)" in go and '{{ "no_" }}' in go
    assert "{{ if .Thinking }}<think>\n{{ .Thinking }}\n</think>\n{{ end }}" in go


def test_the_reasoning_block_opens_with_the_tag_that_mirrors_its_closing_one():
    thinking, go = _derived(glm)
    assert thinking.reasoning is not None and set(thinking.reasoning.blocks.values()) == {("<think>", "</think>")}
    assert "{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}" in go


@pytest.mark.parametrize(
    ("left", "close", "tag"),
    [
        ("<|assistant|><think>", "</think>", "<think>"),
        ("<|CHATBOT_TOKEN|><|START_THINKING|>", "<|END_THINKING|><|START_TEXT|>", "<|START_THINKING|>"),
        ('role="assistant"<|sep|><|open|>think<|sep|>', "<|close|>think<|sep|><|open|>response<|sep|>", "<|open|>think<|sep|>"),
        ("<|im_start|>assistant\n<think>\n", "\n</think>\n\n", "<think>\n"),
        ("<|start|>assistant", "<|end|><|start|>assistant<|channel|>final", None),
    ],
)
def test_opening_tags(left, close, tag):
    start = opening_at(left, close)
    assert (left[start:] if start is not None else None) == tag


def test_reasoning_shown_in_the_final_message_only_is_told_apart_by_position():
    thinking, go = _derived(harmony)
    r = thinking.reasoning
    assert r is not None and (r.after, r.before, r.last) == (False, False, True)
    assert "(eq (len (slice $.Messages $i)) 1)" in go


def _structure(glue, features=(), **fields):
    return ChatStructure(glue=glue, features=features, **fields)


def test_merge_switch_unifies_position_features_and_keeps_the_common_text():
    plain = _structure({("user", "", None, None): "<a>", ("user", "assistant", None, None): "<a>"})
    on = _structure(
        {
            ("user", "", True, None): "<a><think>",
            ("user", "assistant", True, None): "<a><think></think>",
            ("user", "assistant", False, None): "<a>",
        },
        ("last",),
    )
    merged, switch = merge_switch({None: plain, True: on, False: plain})
    assert merged.features == ("last",) and switch is not None
    assert merged.glue[("user", "", True, None)] == "<a>" + switch_mark(0)
    assert merged.glue[("user", "assistant", False, None)] == "<a>"
    assert ("user", "", False, None) not in merged.glue  # no conversation ends in a generation prompt that is not last
    assert switch[switch_mark(0)] == {None: "", True: "<think>", False: ""}


def test_merge_switch_refuses_what_it_cannot_pick_by_setting():
    date = _structure({("", "user", None, None): "Today: HUBSHIPDATE[%Y-%m-%d]X"})
    other = _structure({("", "user", None, None): "Today: HUBSHIPDATE[%d %B %Y]X"})
    with pytest.raises(TemplateNotDerivable, match="date"):
        merge_switch({None: date, True: date, False: other})
    hidden = _structure({("", "user", None, None): "x"}, hidden=frozenset({"system0"}))
    with pytest.raises(TemplateNotDerivable, match="which messages are shown"):
        merge_switch({None: date, True: hidden, False: date})
    assert merge_switch({None: date, True: date, False: date}) == (date, None)


def test_graft_changes_the_reasoning_glue_as_the_switch_changes_the_glue_without_reasoning():
    plain = _structure({("user", "assistant", None, None): "<|assistant|>"})
    off = _structure({("user", "assistant", None, None): "/nothink<|assistant|>"})
    merged = _structure({**plain.glue, ("user", "assistant*", None, None): "<|assistant|>\x00HUBSHIPTHINKA\x00"})
    grafted = graft_reasoning(off, merged, plain)
    assert grafted.glue[("user", "assistant*", None, None)] == "/nothink<|assistant|>\x00HUBSHIPTHINKA\x00"


def test_a_template_that_drops_reasoning_names_the_empty_pair_of_its_prompt_as_tags():
    thinking, go = _derived(smol_dropping)
    assert thinking.reasoning is None and thinking.tags == ("<think>", "</think>")
    assert "{{- if false }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}{{ end }}" in go
    plain = _structure({("user", "", None, None): "<a>\x00HUBSHIPSWITCHAA\x00"})
    assert prompt_tags(plain, {switch_mark(0): {None: "", True: "", False: "<|START_THINKING|><|END_THINKING|>"}}) == (
        "<|START_THINKING|>",
        "<|END_THINKING|>",
    )
    always = _structure({("user", "", None, None): "<a><b></b>\x00HUBSHIPSWITCHAA\x00"})
    assert prompt_tags(always, {switch_mark(0): {None: "", True: "x", False: ""}}) is None  # not the switch's


def smol_dropping(messages, **mode):
    """SmolLM3 as it ships: reasoning in history is dropped."""
    return smol([attrs.evolve(m, thinking="") for m in messages], **mode)


def nemotron(messages, *, add_generation_prompt, continue_final, clock=None, think=None, tools=()):
    """Nemotron-3-shaped: reasoning after the last user message is shown; older reasoning is dropped but leaves the
    newline that followed it."""

    def turn(i, m, last_user, n):
        if m.role != "assistant":
            return f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n"
        if m.thinking and i > last_user:
            return f"<|im_start|>assistant\n<think>\n{m.thinking}\n</think>\n{m.content}<|im_end|>\n"
        return "<|im_start|>assistant\n<think></think>" + ("\n" if m.thinking else "") + f"{m.content}<|im_end|>\n"

    return _chat(
        messages,
        continue_final,
        add_generation_prompt,
        lambda s: f"<|im_start|>system\n{s}<|im_end|>\n",
        turn,
        "<|im_start|>assistant\n<think>\n",
    )


def test_dropped_reasoning_that_changes_the_text_is_a_kind_of_its_own():
    thinking, go = _derived(nemotron)
    r = thinking.reasoning
    assert not thinking.refusals and r is not None
    assert (r.after, r.before, r.marked) == (True, False, (False, True, False))
    assert '{{ $kind = printf "%s+" $kind }}' in go and '"assistant+"' in go
