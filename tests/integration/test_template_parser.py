"""Calls written one argument at a time (GLM-4.7's `<arg_key>`/`<arg_value>`): Ollama's generic tool parser cannot read
them, its built-in `glm-4.7` parser can. The derivation names it in the Modelfile (`PARSER`) only when the proof shows
that parser's rule (as modelled in domain/ollama_parsers.py) reads every rendered call back and the prompt ends as the
parser assumes on every think setting; a Hub repo, which cannot name a parser, gets the TEMPLATE without tools."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import attrs
import httpx
import ollama
import pytest

from hubship.adapters.ollama.registry import create_stream
from hubship.application.ollama_template import HUB_NO_PARSER, derive_ollama_template, for_hub, ollama_model
from hubship.application.ollama_tools import builtin_parser, check_tools
from hubship.domain.ollama_model import OllamaModel
from hubship.domain.ollama_parsers import GLM47, LAGUNA, NEMOTRON3_NANO, QWEN3_CODER
from hubship.domain.tool_check import tool_cases
from tests.integration.test_template_tool_only import collection_profile
from tests.support.ollama_server import StandInServer
from tests.support.stand_in_gguf import GGUF_HEADER

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed (Debian: apt-get install golang-go)")


def test_glm47_tools_are_translated_with_ollamas_builtin_parser(renderer, go):
    p = collection_profile("GLM-4.7-Flash")
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools", "thinking") and d.parser == GLM47, d.notes
    assert "\nPARSER glm-4.7\n" in ollama_model(d, p, model_file="m.gguf", license=None).modelfile()
    assert any(f"`PARSER {GLM47}`" in n for n in d.notes)
    cases = [c for think in (None, True, False) for c in tool_cases(d.system, (None,), think)]
    assert builtin_parser(go, d.template, cases) == (GLM47, "")
    # the prompt ends inside the think block the parser assumes; without the switch proven on and off, no parser
    (out,) = go.render(d.template, [cases[0].ollama])
    assert (out.text or "").endswith("<think>")
    unset = builtin_parser(go, d.template, [c for c in cases if c.ollama.think is None])
    assert unset == (
        None,
        "glm-4.7 assumes a prompt that ends in <think> exactly when thinking is unset or on;"
        " qwen3-coder reads no thinking and this TEMPLATE thinks;"
        " nemotron-3-nano assumes a prompt that ends in an open <think> when thinking is unset or on, in </think> when off;"
        " laguna assumes a prompt that ends in <think> when thinking is on, in </think> when unset or off",
    )
    hub = for_hub(d)
    assert hub.template == d.plain_template and hub.parser == "" and "tools" not in hub.capabilities
    assert any(HUB_NO_PARSER.format(parser=GLM47) in n for n in hub.notes)


def test_glm46_whose_prompt_does_not_open_a_think_block_is_refused_naming_the_parser(renderer, go):
    d = derive_ollama_template(renderer, go, collection_profile("GLM-4.6"), allow_generic=False)
    assert "tools" not in d.capabilities and d.parser == ""
    said = f"nor would a built-in parser hubship models ({GLM47} assumes a prompt that ends in <think> exactly when thinking is unset or on"
    assert any(said in n for n in d.notes), d.notes


def test_the_standin_gives_a_builtin_parser_its_capabilities(tmp_path: Path, go):
    server = StandInServer(tmp_path / "ollama-data", checker=go)
    try:
        digest = f"sha256:{hashlib.sha256(GGUF_HEADER).hexdigest()}"
        assert httpx.post(f"{server.url}/api/blobs/{digest}", content=GGUF_HEADER).status_code in (200, 201)
        client = ollama.Client(host=server.url)
        for name, parser, want in (
            ("glm", GLM47, ["completion", "tools", "thinking"]),
            ("nemo", NEMOTRON3_NANO, ["completion", "tools", "thinking"]),
            ("lag", LAGUNA, ["completion", "tools", "thinking"]),
            ("coder", QWEN3_CODER, ["completion", "tools"]),
            ("odd", "no-such-parser", ["completion"]),
        ):
            fields = OllamaModel(model_file="m.gguf", template="{{ .Prompt }}", parser=parser).create_fields()
            assert [p.status for p in create_stream(client, name, {"m.gguf": digest}, fields)][-1] == "success"
            assert client.show(name).capabilities == want
    finally:
        server.stop()


def test_qwen3_coder_tools_are_translated_with_its_xml_form_and_the_qwen3_coder_parser(renderer, go):
    """Qwen3-Coder writes its tools as XML elements (tool_forms.xml) and its calls as `<function=NAME>` with one
    `<parameter=K>` per argument: the TEMPLATE is proven byte for byte and named `PARSER qwen3-coder`, which reads no
    thinking; Nemotron 3 Nano writes the same calls but thinks, so it gets `nemotron-3-nano`, which reads thinking too."""
    p = collection_profile("Qwen3-Coder")
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools") and d.parser == QWEN3_CODER, d.notes

    def render(messages, **mode):
        return renderer.render(p.template, p.tokens, messages, **mode)

    cases = tool_cases(d.system, (None,))
    assert not check_tools(render, go, p.runtime_bos, d.template, cases)
    (out,) = go.render(d.template, [next(c for c in cases if c.name.startswith("tools: a tool with every")).ollama])
    assert "<name>cities</name>\n<type>array</type>\n<description>The cities to visit</description>\n<items>" in (out.text or "")
    nemotron = derive_ollama_template(renderer, go, collection_profile("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"), allow_generic=False)
    assert nemotron.capabilities == ("completion", "tools", "thinking") and nemotron.parser == NEMOTRON3_NANO, nemotron.notes


def test_nemotron_3_nano_gets_its_parser_which_reads_thinking_from_an_open_think_block(renderer, go):
    """Nemotron 3 Nano's prompt ends in `<think>\\n` (thinking unset or on) or `<think></think>` (off), as its parser
    assumes; qwen3-coder, which reads the same calls but no thinking, is passed over with the reason."""
    d = derive_ollama_template(renderer, go, collection_profile("NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"), allow_generic=False)
    assert d.parser == NEMOTRON3_NANO and "tools" in d.capabilities, d.notes
    cases = [c for think in (None, True, False) for c in tool_cases(d.system, (None,), think)]
    assert builtin_parser(go, d.template, cases) == (NEMOTRON3_NANO, "")
    prompts = [c for c in cases if c.ollama.messages[-1].role != "assistant"][:1]
    for think, end in ((None, "<think>\n"), (True, "<think>\n"), (False, "<think></think>")):
        (out,) = go.render(d.template, [attrs.evolve(prompts[0].ollama, think=think)])
        assert (out.text or "").endswith(end)
    (name, why) = builtin_parser(go, d.template, [c for c in cases if c.ollama.think is None])
    assert name is None and f"{QWEN3_CODER} reads no thinking and this TEMPLATE thinks" in why


@pytest.mark.parametrize("name", ["poolside-Laguna-XS-2.1", "poolside-Laguna-XS.2"])
def test_laguna_xs_whose_thinking_defaults_off_gets_the_laguna_parser(renderer, go, name):
    """Laguna XS templates default `enable_thinking` to false and write GLM's calls: the `laguna` parser, which thinks
    only when `think` is on, reads them; glm-4.7 (thinking from the start when unset) does not fit the unset prompt."""
    p = collection_profile(name)
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools", "thinking") and d.parser == LAGUNA, d.notes
    assert "\nPARSER laguna\n" in ollama_model(d, p, model_file="m.gguf", license=None).modelfile()
    cases = [c for think in (None, True, False) for c in tool_cases(d.system, (None,), think)]
    assert not check_tools(lambda m, **mode: renderer.render(p.template, p.tokens, m, **mode), go, p.runtime_bos, d.template, cases)
    assert builtin_parser(go, d.template, cases) == (LAGUNA, "")


def test_qwen35_writes_its_empty_think_block_after_the_last_user_message_and_gets_nemotron_3_nano(renderer, go):
    """Qwen3.5 writes `<think>\\n\\n</think>\\n\\n` before every assistant turn after the last user message (a tool loop:
    the calls and the answer), none before older ones: the tools layout learns that position (ChatStructure.later) and
    the TEMPLATE is proven byte for byte on every think setting; Ollama's `qwen3.5` parser has, as read, the rule of
    `nemotron-3-nano`, which is named."""
    p = collection_profile("Qwen3.5-4B")
    d = derive_ollama_template(renderer, go, p, allow_generic=False)
    assert d.capabilities == ("completion", "tools", "thinking") and d.parser == NEMOTRON3_NANO, d.notes
    cases = [c for think in (None, True, False) for c in tool_cases(d.system, (None,), think, reasoning=True)]
    assert not check_tools(lambda m, **mode: renderer.render(p.template, p.tokens, m, **mode), go, p.runtime_bos, d.template, cases)
    assert builtin_parser(go, d.template, cases) == (NEMOTRON3_NANO, "")
    renders = dict(zip((c.name for c in cases), (o.text or "" for o in go.render(d.template, [c.ollama for c in cases])), strict=True))
    block, bare = "<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>", "<|im_start|>assistant\n<tool_call>"
    loop, older = renders["tools: two calls, two results"], renders["tools: one call, result, answer, final user turn"]
    assert block in loop and bare not in loop
    assert bare in older and block not in older
