"""Real chat templates, as the models ship them, rendered by transformers' Jinja and by Go's text/template.

Each derivable family must give a Go template whose renders are byte-identical to the Jinja ones on
every check conversation (the probe role orders plus single/multi-turn, system, special characters,
generation prompt and prefill), stop on its end-of-turn token, and keep its default system prompt.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubship.adapters.ollama.go_template_checker import GoTemplateChecker
from hubship.application.ollama_template import check_template, derive_ollama_template
from hubship.domain.chat_learning import derive_structure
from hubship.domain.chat_template import ChatMessage, ChatProfile
from hubship.domain.errors import UserInputError
from hubship.domain.go_template import emit_go_template
from hubship.domain.template_check import OllamaCase

TEMPLATES = Path(__file__).resolve().parents[1] / "data" / "chat_templates"
FAMILIES = {k: v for k, v in json.loads((TEMPLATES / "families.json").read_text()).items() if not k.startswith("_")}
DERIVABLE = sorted(k for k, v in FAMILIES.items() if v.get("derivable", True))
NOT_DERIVABLE = sorted(k for k, v in FAMILIES.items() if not v.get("derivable", True))
needs_go = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")


def profile(name: str) -> ChatProfile:
    info = FAMILIES[name]
    return ChatProfile(
        template=(TEMPLATES / f"{name}.jinja").read_text(encoding="utf-8"),
        tokens=info["tokens"],
        add_bos=info["add_bos"],
        control_tokens=tuple(info["control_tokens"]),
        eos_tokens=(info["tokens"]["eos_token"],),
    )


@needs_go
@pytest.mark.parametrize("name", DERIVABLE)
def test_family_renders_byte_identical_in_go_and_jinja(name, renderer, go):
    info = FAMILIES[name]
    derived = derive_ollama_template(renderer, go, profile(name), allow_generic=False)
    assert derived.check.status == "passed", derived.check.mismatches[:3]
    assert derived.check.cases >= 64 and not derived.check.mismatches
    assert info["end_of_turn"] in derived.stops
    assert derived.system == (info["default_system"] or None)
    assert derived.template is not None and ".Messages" in derived.template and not derived.warnings


@needs_go
def test_special_characters_come_through_unchanged(renderer, go):
    """One conversation shown end to end: braces, quotes, backslashes, CRLF, unicode, in both engines."""
    p = profile("llama-3")
    messages = (ChatMessage("system", 'Answer in "JSON" {like: this}'), ChatMessage("user", "{{ .Prompt }}\r\n日本語 🤖 \\n"))
    template = derive_ollama_template(renderer, go, p, allow_generic=False).template
    jinja = renderer.render(p.template, p.tokens, messages, add_generation_prompt=True, continue_final=False)
    (rendered,) = go.render(template, [OllamaCase(messages)])
    assert jinja == "<|begin_of_text|>" + rendered.text
    assert rendered.text.endswith("{{ .Prompt }}\r\n日本語 🤖 \\n<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


@needs_go
def test_the_modelfile_system_is_injected_as_ollama_does(renderer, go):
    p = profile("qwen2.5")
    derived = derive_ollama_template(renderer, go, p, allow_generic=False)
    messages = (ChatMessage("user", "Hi"),)
    with_system, without = go.render(derived.template, [OllamaCase(messages, derived.system), OllamaCase(messages)])
    expected = renderer.render(p.template, p.tokens, messages, add_generation_prompt=True, continue_final=False)
    assert with_system.text == without.text == expected
    assert "You are Qwen, created by Alibaba Cloud." in expected


@needs_go
def test_a_conversation_the_template_rejects_fails_in_ollama_too(renderer, go):
    p = profile("gemma-2")
    template = derive_ollama_template(renderer, go, p, allow_generic=False).template
    system_first, two_users = go.render(
        template,
        [
            OllamaCase((ChatMessage("system", "Be brief."), ChatMessage("user", "Hi"))),
            OllamaCase((ChatMessage("assistant", "Hello"), ChatMessage("user", "Hi"))),
        ],
    )
    assert system_first.text is None and "System role not supported" in system_first.error
    assert two_users.text is None and "must alternate" in two_users.error


@needs_go
def test_the_check_catches_a_wrong_translation(renderer, go):
    p = profile("chatml")
    structure = derive_structure(
        lambda messages, **mode: renderer.render(p.template, p.tokens, messages, **mode),
        p.bos,
    )
    broken = emit_go_template(structure).replace('"<|im_end|>\\n<|im_start|>assistant\\n"', '"<|im_end|>\\n<|im_start|>assistant"')
    report = check_template(renderer, go, p, broken, structure)
    assert report.status == "failed" and report.mismatches
    assert "differs at character" in report.mismatches[0]


def test_without_go_the_check_is_skipped_and_says_so(renderer, tmp_path):
    derived = derive_ollama_template(
        renderer, GoTemplateChecker(tmp_path, go=str(tmp_path / "no-go")), profile("zephyr"), allow_generic=False
    )
    assert derived.check.status == "skipped" and "Go is not installed" in derived.check.reason
    assert derived.check.summary()["template_check"].startswith("skipped")
    assert derived.template is not None


@needs_go
@pytest.mark.parametrize("name", NOT_DERIVABLE)
def test_untranslatable_template_is_one_line_and_generic_only_when_allowed(name, renderer, go):
    with pytest.raises(UserInputError) as refused:
        derive_ollama_template(renderer, go, profile(name), allow_generic=False)
    assert "\n" not in str(refused.value) and "--allow-generic-template" in str(refused.value)
    generic = derive_ollama_template(renderer, go, profile(name), allow_generic=True)
    assert generic.template is None and generic.warnings and "could not be derived" in generic.warnings[0]


@needs_go
def test_go_helper_runs_legacy_templates_like_ollama(go):
    """.Prompt/.Response templates run once per exchange; consecutive same-role messages are merged."""
    legacy = "{{ if .System }}[S]{{ .System }}{{ end }}[U]{{ .Prompt }}[A]{{ .Response }}"
    messages = (ChatMessage("user", "a"), ChatMessage("user", "b"), ChatMessage("assistant", "c"), ChatMessage("user", "d"))
    (out,) = go.render(legacy, [OllamaCase(messages, "sys")])
    assert out.text == "[S]sys[U]a\n\nb[A]c[U]d[A]"
