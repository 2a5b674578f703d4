"""Which renderer Ollama 0.30.0+ picks (domain.ollama_runtime), on the template texts its rules read."""

from __future__ import annotations

from hubship.domain.ollama_runtime import (
    GGUF_TEMPLATE,
    ROUND_TRIP,
    TEMPLATE,
    THINKING_HINT,
    go_round_trip,
    jinja_capabilities,
    jinja_round_trip,
    ollama_runtime,
    thinking_hint,
)

LLAMA31 = (
    "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}{% if m.tool_calls %}x{% endif %}"
    "{% if m.role == 'ipython' %}r{% endif %}{% endfor %}"
)
QWEN3 = "{{ tools }}{{ m.tool_calls }}<tool_response></tool_response><think></think>"
PLAIN = "{% for m in messages %}{{ m.content }}{% endfor %}"
GO_TOOLS = (
    "{{ if .Tools }}{{ range $i, $m := .Messages }}{{ if not (or ("
    + ROUND_TRIP
    + ') (eq $m.Role "user")) }}{{ end }}{{ range $m.ToolCalls }}{{ end }}{{ end }}{{ end }}'
)
GO_TOOLS_UNMARKED = GO_TOOLS.replace(ROUND_TRIP, 'eq $m.Role "tool"')


def test_the_chat_templates_capabilities_are_read_from_its_text_as_ollama_reads_them() -> None:
    assert jinja_capabilities(LLAMA31) == {"tools"}
    assert jinja_capabilities(QWEN3) == {"tools", "thinking"}
    assert jinja_capabilities("{{ content.split('</think>')[-1] }}") == {"thinking"}
    assert jinja_capabilities("{{ content.split('</think>') }}{{ reasoning_content }}") == set()
    assert jinja_capabilities(PLAIN) == set()
    assert jinja_round_trip(LLAMA31) and jinja_round_trip(QWEN3)
    assert not jinja_round_trip("{{ tools }}{{ tool_calls }}")  # no tool result


def test_a_go_round_trip_needs_tools_calls_and_the_role_text() -> None:
    assert go_round_trip(GO_TOOLS)
    assert not go_round_trip(GO_TOOLS_UNMARKED)
    assert not go_round_trip('{{ range .Messages }}{{ if eq .Role "tool" }}{{ end }}{{ end }}')  # no .Tools, no .ToolCalls


def test_only_the_names_of_actions_count_as_vars_read_them() -> None:
    marked = f"{{{{ if true }}}}{ROUND_TRIP}{{{{ end }}}}"  # the role text Ollama searches the raw text for
    # field and variable chains inside actions count, also inside a nested pipeline
    assert go_round_trip(marked + "{{ if (len $.Tools) }}{{ range $m := .Messages }}{{ $m.ToolCalls }}{{ end }}{{ end }}")
    # in plain text, a string, a raw string, a comment or read off a parenthesised pipeline they do not
    for hidden in (".Tools .ToolCalls", '{{ "use .Tools" }}{{ `and .ToolCalls` }}', "{{/* .Tools .ToolCalls */}}"):
        assert not go_round_trip(marked + hidden)
    assert not go_round_trip(marked + "{{ .Tools }}{{ (index .Messages 0).ToolCalls }}")
    # a `}}` inside a literal or comment does not end the action
    assert go_round_trip(marked + '{{ print "}}" .Tools }}{{ print `}}` .ToolCalls }}')
    assert not go_round_trip(marked + '{{ "{{ .Tools }}" }}{{/* }} .ToolCalls */}}')


def test_a_template_with_the_same_tools_keeps_ollama_on_it_only_when_its_round_trip_reads() -> None:
    assert ollama_runtime(LLAMA31, GO_TOOLS, ("completion", "tools")).renderer == TEMPLATE
    moved = ollama_runtime(LLAMA31, GO_TOOLS_UNMARKED, ("completion", "tools"))
    assert moved.renderer == GGUF_TEMPLATE and "round trip" in moved.why


def test_a_chat_template_with_more_capabilities_wins_unless_only_the_template_round_trips() -> None:
    refused = ollama_runtime(QWEN3, PLAIN, ("completion", "thinking"))
    assert refused.renderer == GGUF_TEMPLATE and refused.capabilities == {"tools", "thinking"}
    assert "more capabilities (thinking, tools) than the TEMPLATE (thinking)" in refused.why
    # more capabilities, but the TEMPLATE round-trips tools and the chat template does not
    assert ollama_runtime("{{ tools }}<think></think>", GO_TOOLS, ("completion", "tools")).renderer == TEMPLATE


def test_a_parser_harmony_or_no_chat_template_keeps_the_template() -> None:
    assert ollama_runtime(QWEN3, PLAIN, ("completion",), parser="qwen3-coder").renderer == TEMPLATE
    assert ollama_runtime(QWEN3, PLAIN, ("completion",), harmony=True).renderer == TEMPLATE
    assert ollama_runtime("", PLAIN, ("completion",)).renderer == TEMPLATE
    assert ollama_runtime(PLAIN, PLAIN, ("completion",)).renderer == TEMPLATE  # neither has tools nor thinking


def test_ollama_create_gives_some_architectures_its_own_renderer_whatever_the_templates() -> None:
    from hubship.domain.ollama_runtime import BUILTIN, builtin_runtime

    gemma = builtin_runtime("gemma4")
    assert gemma is not None and gemma.renderer == f"{BUILTIN} gemma4"
    assert "Ollama 0.20.0 or later" in gemma.why and "before 0.20.0 renders with the TEMPLATE" in gemma.why
    moe = builtin_runtime("nemotron_h_moe")
    assert moe is not None and moe.renderer == f"{BUILTIN} nemotron-3-nano" and "0.22.0" in moe.why
    assert builtin_runtime("llama") is None and builtin_runtime("") is None


# reasons between tags of its own (Kimi K3's shape): Ollama reads tools, not thinking, from it
OWN_TAGS = "{% if tools %}{{ tools | tojson }}{% endif %}{% for m in messages %}<|think|>{{ m.reasoning_content }}{% endfor %}"
GO_THINKS = "{{ range .Messages }}{{ if .Thinking }}<|think|>{{ .Thinking }}{{ end }}{{ .Content }}{{ end }}"


def test_the_thinking_hint_moves_a_reasoning_template_that_ollama_reads_as_tools_only_to_llama_cpp() -> None:
    assert ollama_runtime(OWN_TAGS, GO_THINKS, ("completion", "thinking")).renderer == TEMPLATE  # the tie keeps it
    hinted = thinking_hint(OWN_TAGS, GO_THINKS, ("completion", "thinking"))
    assert hinted == THINKING_HINT + OWN_TAGS
    assert jinja_capabilities(hinted) == {"tools", "thinking"} and jinja_capabilities(THINKING_HINT) == {"thinking"}
    runtime = ollama_runtime(hinted, GO_THINKS, ("completion", "thinking"))
    assert runtime.renderer == GGUF_TEMPLATE and runtime.capabilities == {"tools", "thinking"}


def test_no_thinking_hint_where_it_would_change_nothing_or_claim_what_is_not_there() -> None:
    thinks = ("completion", "thinking")
    assert thinking_hint(OWN_TAGS, GO_THINKS, ("completion",)) == OWN_TAGS  # the TEMPLATE does not reason: no claim
    assert thinking_hint(QWEN3, GO_THINKS, thinks) == QWEN3  # Ollama reads its thinking already
    assert thinking_hint(OWN_TAGS, GO_TOOLS, ("completion", "thinking", "tools")) == OWN_TAGS  # the TEMPLATE has tools
    assert thinking_hint(OWN_TAGS, GO_THINKS, thinks, parser="glm-4.7") == OWN_TAGS  # a PARSER keeps the TEMPLATE
    assert thinking_hint(OWN_TAGS, GO_THINKS, thinks, harmony=True) == OWN_TAGS
    # a TEMPLATE that also reads `.Suffix` (insert) still ties with the hinted chat template's two: Ollama keeps it
    assert thinking_hint(OWN_TAGS, GO_THINKS + "{{ .Suffix }}", (*thinks, "insert")) == OWN_TAGS
    assert thinking_hint("\n" + OWN_TAGS, GO_THINKS, thinks) == "\n" + OWN_TAGS  # trim_blocks would eat that newline
    no_tools = "{% for m in messages %}<|think|>{{ m.reasoning_content }}{% endfor %}"
    assert thinking_hint(no_tools, GO_THINKS, thinks) == no_tools  # tools are what the hint is for
