"""The template features real models ship that the derivation must get right, one family each (the
templates are copies of the models' own, in tests/data/chat_templates/): the BOS rule, dates, text that
depends on the position, a system message inside the last user turn, and whitespace trimming."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, processors
from transformers import PreTrainedTokenizerFast

from hubship.application.ollama_template import derive_ollama_template
from hubship.domain.chat_dates import Clock, go_date_head, inexpressible, strftime
from hubship.domain.chat_template import ChatMessage, ChatProfile
from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.domain.go_template import go_string
from hubship.domain.template_check import OllamaCase
from tests.integration.test_template_families import profile

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")
LATER = datetime.date(2040, 2, 29)
M = ChatMessage


def both(renderer, go, p: ChatProfile, template: str, messages, day: datetime.date | None = None) -> tuple[str, str]:
    """(Jinja render, Go render) of one conversation as a chat server asks for it, on `day`."""
    prefill = messages[-1].role == "assistant"
    jinja = renderer.render(
        p.template, p.tokens, messages, add_generation_prompt=not prefill, continue_final=prefill, clock=Clock(day) if day else None
    )
    (out,) = go.render(template, [OllamaCase(tuple(messages), "", day.isoformat() if day else None)])
    assert out.error is None, out.error
    return jinja, out.text


def tokenizer_dir(root: Path, bos: str, adds_bos: bool) -> Path:
    """A real fast tokenizer whose BOS is `bos`, adding it on encode (Llama-3) or not (SmolLM2)."""
    vocab = {t: i for i, t in enumerate([bos, "<|im_end|>", "<|eot_id|>", "a", "[UNK]"])}
    inner = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    if adds_bos:
        inner.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    tok = PreTrainedTokenizerFast(tokenizer_object=inner, bos_token=bos, eos_token="<|im_end|>", unk_token="[UNK]")
    tok.chat_template = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}"
    tok.save_pretrained(root)
    return root


@pytest.mark.parametrize(("bos", "adds"), [("<|im_start|>", False), ("<|begin_of_text|>", True)])
def test_the_profile_says_whether_the_runtime_adds_bos(tmp_path, renderer, bos, adds):
    folder = tokenizer_dir(tmp_path / "tok", bos, adds)
    checkpoint = Checkpoint(
        root=str(folder),
        adapter_config={},
        adapter_weights="",
        adapter_bytes=0,
        base=BaseRef(path=str(folder)),
        tokenizer_files=("tokenizer.json",),
    )
    base = BaseInfo(path=str(folder), architecture="LlamaForCausalLM", model_type="llama", dtype="bf16", parameter_bytes=0, weight_files=())
    found = renderer.profile(checkpoint, base)
    assert found.add_bos is adds and found.runtime_bos == (bos if adds else None)


def test_smollm2_keeps_its_leading_im_start_when_the_runtime_adds_no_bos(renderer, go):
    p = profile("smollm2")
    assert p.bos == "<|im_start|>" and not p.add_bos
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    jinja, rendered = both(renderer, go, p, derived.template, [M("user", "Hi")])
    assert rendered == jinja and rendered.startswith("<|im_start|>system\n")  # nothing is cut: no runtime adds it back


def test_llama3_gets_no_doubled_bos(renderer, go):
    p = profile("llama-3")
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert "<|begin_of_text|>" not in derived.template
    jinja, rendered = both(renderer, go, p, derived.template, [M("user", "Hi")])
    assert jinja == "<|begin_of_text|>" + rendered  # the runtime adds the one BOS


@pytest.mark.parametrize("name", ["llama-3.2", "granite-3.3"])
def test_dates_come_from_ollamas_current_date_and_hold_on_a_later_day(renderer, go, name):
    p = profile(name)
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    today = datetime.date.today()
    assert "currentDate" in derived.template and today.strftime("%Y") not in derived.template.replace("2023", "").replace("2024", "")
    assert any("currentDate" in n and "proven on 2031-01-05 and 2032-11-23" in n for n in derived.notes)
    for messages in ([M("user", "Hi")], [M("system", "Be brief."), M("user", "Hi"), M("assistant", "Hello"), M("user", "Bye")]):
        jinja, rendered = both(renderer, go, p, derived.template, messages, LATER)
        assert jinja == (p.runtime_bos or "") + rendered
    assert "29 Feb 2040" in rendered or "February 29, 2040" in both(renderer, go, p, derived.template, [M("user", "Hi")], LATER)[1]


def test_a_date_go_cannot_build_is_refused_or_frozen_when_allowed(renderer, go):
    weekday = "{{ 'Today is ' + strftime_now('%A, %d %B %Y') + '.\\n' }}"
    weekday += "{% for m in messages %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}"
    weekday += "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}"
    p = ChatProfile(template=weekday, tokens={"eos_token": "</s>"})
    with pytest.raises(UserInputError, match="--allow-frozen-date") as refused:
        derive_ollama_template(renderer, go, p, allow_generic=False)
    assert "\n" not in str(refused.value) and "'%A, %d %B %Y'" in str(refused.value)
    day = datetime.date(2026, 8, 11)
    frozen = derive_ollama_template(renderer, go, p, allow_generic=False, allow_frozen_date=True, today=day)
    assert "Tuesday, 11 August 2026" in frozen.template and any("frozen at the publish day" in n for n in frozen.notes)
    jinja, rendered = both(renderer, go, p, frozen.template, [M("user", "Hi")], day)
    assert jinja == rendered


def test_qwen3_writes_the_empty_think_block_only_before_a_prefilled_last_answer(renderer, go):
    p = profile("qwen3")
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert "$last" in derived.template
    prefill, history = [M("user", "Hi"), M("assistant", "Sure")], [M("user", "Hi"), M("assistant", "Sure"), M("user", "More")]
    for messages in (prefill, history):
        jinja, rendered = both(renderer, go, p, derived.template, messages)
        assert jinja == rendered
    assert "<think>\n\n</think>\n\nSure" in both(renderer, go, p, derived.template, prefill)[1]
    assert "<think>" not in both(renderer, go, p, derived.template, history)[1]


def test_mistral_nemo_puts_the_system_message_inside_the_last_user_turn(renderer, go):
    p = profile("mistral-nemo")
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    chat = [M("system", "Be brief."), M("user", "Hi"), M("assistant", "Hello"), M("user", "Bye")]
    jinja, rendered = both(renderer, go, p, derived.template, chat)
    assert jinja == "<s>" + rendered and rendered.endswith("[INST]Be brief.\n\nBye[/INST]") and rendered.count("Be brief.") == 1
    jinja, rendered = both(renderer, go, p, derived.template, chat[:3])  # a prefill: the template drops the system message
    assert jinja == "<s>" + rendered and "Be brief." not in rendered


def test_trimmed_contents_are_named_exactly(renderer, go):
    llama = derive_ollama_template(renderer, go, profile("llama-3"), allow_generic=False)
    assert llama.structure.trimmed == (
        "system messages (leading and trailing whitespace)",
        "user messages (leading and trailing whitespace)",
        "assistant messages in the history (leading and trailing whitespace)",
        "a prefilled assistant message (leading and trailing whitespace)",
    )
    assert any("for contents without leading or trailing whitespace" in n for n in llama.notes)
    chatml = derive_ollama_template(renderer, go, profile("chatml"), allow_generic=False)
    assert chatml.structure.trimmed == () and not any("whitespace" in n for n in chatml.notes)
    p = profile("llama-3")
    jinja, rendered = both(renderer, go, p, llama.template, [M("user", "  padded \n")])
    assert jinja != "<|begin_of_text|>" + rendered  # exactly the difference the notes name


def test_every_date_directive_go_builds_matches_strftime(go):
    formats = ("%Y-%m-%d", "%d %b %Y", "%B %-d, %Y", "%e/%-m/%y %h", "%F %%")
    template = "\n".join(go_date_head(formats, go_string)) + "".join(f"{{{{ $date{n} }}}}|" for n in range(len(formats)))
    days = [datetime.date(2031, 1, 5), datetime.date(2032, 11, 23), datetime.date(2029, 9, 30), LATER]
    rendered = go.render(template, [OllamaCase((M("user", "x"),), "", d.isoformat()) for d in days])
    assert [r.text for r in rendered] == ["".join(f"{strftime(d, f)}|" for f in formats) for d in days]
    assert inexpressible(("%A", "%H:%M", "%Y")) == ("%A", "%H:%M")
