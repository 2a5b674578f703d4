"""The pure template logic: structure learning from plain-Python renders, Go emission, stops, Modelfile."""

from __future__ import annotations

import datetime
import itertools
import re

import pytest

from hubship.domain.chat_glue import split
from hubship.domain.chat_learning import derive_structure
from hubship.domain.chat_template import (
    ChatMessage,
    ChatProfile,
    Observation,
    TemplateNotDerivable,
    TemplateRejected,
    probe_sequences,
    sentinel,
    strip_bos,
)
from hubship.domain.go_template import emit_go_template, go_string
from hubship.domain.ollama_model import OllamaModel, sampling_parameters, stop_words
from hubship.domain.template_check import CONVERSATIONS, RenderOutcome, check_cases, difference

DEFAULT = "You are a helpful assistant."


def chatml(messages, *, add_generation_prompt, continue_final, default=None, bos="", clock=None):
    """ChatML as Qwen writes it, in Python: an optional default system block and a generation prompt."""
    out = bos
    if default and messages[0].role != "system":
        out += f"<|im_start|>system\n{default}<|im_end|>\n"
    for m in messages:
        out += f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n"
    if continue_final:
        return out[: out.rindex(messages[-1].content) + len(messages[-1].content)]
    return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def inst(messages, *, add_generation_prompt, continue_final, clock=None):
    """Mistral-style [INST] with no system role and strict alternation, both enforced by raising."""
    out = "<s>"
    for i, m in enumerate(messages):
        if (m.role == "user") != (i % 2 == 0):
            raise TemplateRejected("Conversation roles must alternate user/assistant/user/assistant/...")
        if m.role == "system":
            raise TemplateRejected("Only user and assistant roles are supported!")
        out += f"[INST] {m.content} [/INST]" if m.role == "user" else f"{m.content}</s>"
    if continue_final:
        return out[: out.rindex(messages[-1].content) + len(messages[-1].content)]
    return out


def test_probe_sequences_are_what_a_chat_server_sends():
    found = probe_sequences()
    assert ("user",) in found and ("system", "user", "assistant", "user") in found
    assert all("user" in s and s[-1] != "system" for s in found)
    assert not any(a == b for s in found for a, b in itertools.pairwise(s))


def test_chatml_structure_is_learned_from_glue():
    s = derive_structure(chatml, None)
    assert s.lead["user"] == "<|im_start|>user\n"
    assert s.between[("user", "assistant")] == "<|im_end|>\n<|im_start|>assistant\n"
    assert s.tail["user"] == "<|im_end|>\n<|im_start|>assistant\n"
    assert s.rules == () and s.hidden == frozenset() and s.default_system is None
    assert s.assistant_end == "<|im_end|>\n"


def test_a_default_system_prompt_is_recognised():
    s = derive_structure(lambda m, **k: chatml(m, default=DEFAULT, **k), None)
    assert s.default_system == DEFAULT


def test_the_leading_bos_is_stripped_and_remembered():
    s = derive_structure(lambda m, **k: chatml(m, bos="<s>", **k), "<s>")
    assert s.lead["user"] == "<|im_start|>user\n" and s.bos == "<s>"
    assert strip_bos("<s><s>x", "<s>") == "<s>x"


def test_rejection_rules_explain_every_raise():
    s = derive_structure(inst, "<s>")
    assert {r.name for r in s.rules} == {"no_leading_system", "no_later_system", "alternate"}
    assert next(r for r in s.rules if r.name == "alternate").message.startswith("Conversation roles must alternate")


def test_glue_that_depends_on_position_is_not_derivable():
    def numbered(messages, *, add_generation_prompt, continue_final, clock=None):
        out = "".join(f"#{i} {m.role}: {m.content}\n" for i, m in enumerate(messages))
        return out.rstrip("\n") if continue_final else out + f"#{len(messages)} assistant: "

    with pytest.raises(TemplateNotDerivable, match="depends on more than the roles"):
        derive_structure(numbered, None)


def test_reordered_contents_are_not_derivable():
    def system_last(messages, *, add_generation_prompt, continue_final, clock=None):
        system = [m.content for m in messages if m.role == "system"]
        body = "".join(f"{m.role}: {m.content}\n" for m in messages if m.role != "system")
        return body + "".join(system) + ("" if continue_final else "assistant: ")

    with pytest.raises(TemplateNotDerivable):
        derive_structure(system_last, None)


def test_go_template_quotes_every_literal_and_adds_no_stray_text():
    assert go_string('a"b\\c\nd\te{{x}}é\x01') == '"a\\"b\\\\c\\nd\\te{{x}}é\\x01"'
    template = emit_go_template(derive_structure(inst, "<s>"))
    assert all(line.startswith("{{-") for line in template.splitlines())
    assert not template.endswith("\n")
    assert '{{ template "Only user and assistant roles are supported!" . }}' in template  # with a pipeline: Ollama parses it
    assert "}} }}" not in template and not re.search(r'{{ template "[^"]*" }}', template)
    assert '{{ "[INST] " }}' in template


def test_stops_are_the_end_of_turn_tokens_and_eos():
    s = derive_structure(chatml, None)
    assert stop_words(s, ["<|im_start|>", "<|im_end|>", "<|endoftext|>"], ["<|im_end|>"]) == ("<|im_end|>", "<|im_start|>")
    assert stop_words(s, [], ["</s>"]) == ("<|im_end|>", "<|im_start|>", "</s>")  # token-like text when no control list
    assert "<s>" not in stop_words(derive_structure(inst, "<s>"), ["<s>", "</s>"], ["</s>"])


def test_sampling_parameters_from_generation_config():
    assert sampling_parameters({"temperature": 0.7, "top_p": 0.9, "repetition_penalty": 1.1, "max_new_tokens": 64}) == {
        "temperature": 0.7,
        "top_p": 0.9,
        "repeat_penalty": 1.1,
    }
    assert sampling_parameters({"do_sample": False, "temperature": 0.7}) == {"temperature": 0}
    assert sampling_parameters({}) == {}


def test_modelfile_and_create_fields_say_the_same():
    model = OllamaModel(
        model_file="m.Q4_K_M.gguf",
        template="{{ .Prompt }}",
        system="Be brief.",
        parameters={"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.7},
        license="apache-2.0",
    )
    text = model.modelfile()
    assert text.splitlines()[0] == "FROM ./m.Q4_K_M.gguf"
    assert 'TEMPLATE """{{ .Prompt }}"""' in text and 'SYSTEM """Be brief."""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text and "PARAMETER temperature 0.7" in text
    assert model.create_fields() == {
        "template": "{{ .Prompt }}",
        "system": "Be brief.",
        "parameters": {"stop": ["<|im_end|>", "<|im_start|>"], "temperature": 0.7},
        "license": "apache-2.0",
    }
    assert OllamaModel.from_json(model.to_json()) == model
    with pytest.raises(ValueError, match='"""'):
        OllamaModel(model_file="m.gguf", system='say """hi"""').modelfile()


def test_check_cases_cover_the_named_conversations_and_the_modelfile_system():
    plain = check_cases(None)
    with_default = check_cases(DEFAULT)
    names = {c.name for c in plain}
    assert set(CONVERSATIONS) <= names and "user/assistant/user" in names
    injected = [c for c in with_default if c.ollama.system]
    assert injected and all(c.messages[0].role != "system" for c in injected)
    assert any(m.content.count("{{") for c in plain for m in c.messages)  # braces reach the check
    later = check_cases(None, later_system_supported=False)
    assert all(c.rejected_by_design == any(m.role == "system" for m in c.messages[1:]) for c in later)


def test_difference_says_where_renders_part():
    assert difference(RenderOutcome(text="abc"), RenderOutcome(text="abc")) is None
    assert difference(RenderOutcome(error="x"), RenderOutcome(error="y")) is None
    assert "character 2" in difference(RenderOutcome(text="abc"), RenderOutcome(text="abd"))
    assert "Jinja rejects" in difference(RenderOutcome(error="no"), RenderOutcome(text="a"))
    assert ChatMessage("user", "x") == ChatMessage("user", "x")


def test_the_bos_is_kept_when_the_runtime_adds_none():
    """SmolLM2: its BOS is <|im_start|>, which the GGUF does not add (add_bos false): the text stays."""
    profile = ChatProfile(template="x", tokens={"bos_token": "<|im_start|>"}, add_bos=False)
    assert profile.runtime_bos is None
    s = derive_structure(lambda m, **k: chatml(m, default=DEFAULT, **k), profile.runtime_bos)
    assert s.lead["user"].startswith("<|im_start|>system\n") and s.bos is None
    assert ChatProfile(template="x", tokens={"bos_token": "<s>"}, add_bos=True).runtime_bos == "<s>"


def test_check_cases_run_on_each_day_with_the_same_clock_for_both_engines():
    days = (datetime.date(2031, 1, 5), datetime.date(2032, 11, 23))
    cases = check_cases(None, days=days)
    assert len(cases) == 2 * len(check_cases(None))
    assert {(c.clock.day.isoformat(), c.ollama.date) for c in cases} == {(d.isoformat(), d.isoformat()) for d in days}
    assert all(c.name.endswith(f" on {c.ollama.date}") for c in cases)


def test_a_prefilled_last_message_may_get_its_own_glue():
    """Qwen3: an empty think block before the last assistant message only."""

    def qwen3(messages, *, add_generation_prompt, continue_final, clock=None):
        out = ""
        for i, m in enumerate(messages):
            last = i == len(messages) - 1
            think = "<think>\n\n</think>\n\n" if m.role == "assistant" and last else ""
            out += f"<|im_start|>{m.role}\n{think}{m.content}" + ("" if last and continue_final else "<|im_end|>\n")
        return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")

    s = derive_structure(qwen3, None)
    assert s.features == ("last",)
    assert s.text("user", "assistant", last=True, system=False) == "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert s.text("user", "assistant", last=False, system=False) == "<|im_end|>\n<|im_start|>assistant\n"
    assert "$last" in emit_go_template(s)


def test_the_later_split_gives_assistant_messages_after_the_last_user_message_the_last_feature():
    kinds = ("user", "calls", "tool", "assistant", "user", "calls", "tool", "assistant")
    obs = Observation(kinds, "".join(f"<{i}>" + sentinel(i) for i in range(len(kinds))), None)
    lasts = {later: [slot[2] for slot, _ in split(obs, frozenset(), False, later)] for later in (False, True)}
    assert lasts[False] == [False] * 7 + [True, True]
    assert lasts[True] == [False] * 5 + [True, False, True, True]
