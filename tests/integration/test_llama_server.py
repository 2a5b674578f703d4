"""llama.cpp's own server (llama-server, built at set-up from the pinned source) on tiny GGUFs with weights: the
prompt its C++ Jinja engine renders and the ids its chat completion evaluates, against the same GGUF's template
rendered by llama-cpp-python and against transformers' ids (what training saw)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from hubship.adapters.llama_cpp.chat_runtime import LlamaCppChatRuntime
from hubship.adapters.llama_cpp.converter import LlamaCppConverter
from hubship.adapters.llama_cpp.llama_server import LlamaServerServedChat
from hubship.adapters.llama_cpp.tools_build import SERVER_ENV
from hubship.adapters.torch.demo_checkpoint import CHAT_TEMPLATE, HfDemoCheckpointFactory
from hubship.domain.chat_proof import PROOF_CONVERSATIONS, first_difference
from hubship.domain.chat_runtimes import LLAMA_SERVER, fed_text
from hubship.domain.chat_template import ChatMessage
from hubship.domain.errors import PublishError, UserInputError
from hubship.entrypoints.container import create_container
from tests.fakes.progress import FakeProgress

pytestmark = pytest.mark.slow
CHATML = ("<|im_start|>", "<|im_end|>")
CONVERSATIONS = tuple(PROOF_CONVERSATIONS.values())
# Qwen3's shapes: tools listed in a system turn, the think switch after the generation prompt; no BOS written
TOOLS_THINKING = (
    "{%- if tools %}<|im_start|>system\n{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}<|im_end|>\n"
    "{% elif messages[0].role == 'system' %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{%- for message in messages %}{% if not (message.role == 'system' and loop.first) %}"
    "<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endif %}{% endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
NO_SYSTEM = CHAT_TEMPLATE.replace(
    "{% for message in messages %}",
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
)
# A filter Python's jinja2 has and llama.cpp's C++ engine does not, reached only by conversations of 4+ messages
GENERATION_PROMPT = "{{ '<|im_start|>assistant\\n' }}"
ROUND = CHAT_TEMPLATE.replace(
    GENERATION_PROMPT, GENERATION_PROMPT + "{% if messages | length > 3 %}{{ (messages | length / 2) | round | int }}{% endif %}"
)
TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather <now> & later, in °C",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]},
        },
    },
)
GGUF = tuple[Path, Path]  # (the model folder transformers reads, its GGUF)


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], GGUF]]:
    """A tiny Llama (SentencePiece, adds BOS, ChatML tokens) converted to an f16 GGUF with weights, one per template."""
    root = tmp_path_factory.mktemp("served")
    base, _ = HfDemoCheckpointFactory().create(root / "demo", dtype="float32", chat_tokens=CHATML, hidden_size=64, layers=1)
    converter, made = LlamaCppConverter(), {}

    def make(template: str) -> GGUF:
        if template not in made:
            folder = root / f"model-{len(made)}"
            shutil.copytree(base, folder)
            (folder / "chat_template.jinja").write_text(template)
            out = folder / "model.gguf"
            converter.convert(folder, out, outtype="f16", name="served", base_model=None, license=None, progress=FakeProgress())
            made[template] = (folder, out)
        return made[template]

    yield make
    converter.cool_down()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServerServedChat]:
    """The adapter the container registers as `served_chat`."""
    made = create_container({"workspace": tmp_path_factory.mktemp("ws"), "quiet": True}).served_chat()
    assert isinstance(made, LlamaServerServedChat)
    with made:
        yield made


@pytest.fixture(scope="module")
def runtime() -> LlamaCppChatRuntime:
    return LlamaCppChatRuntime()


def _chat(messages) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def training_ids(folder: Path, conversations) -> list[list[int]]:
    tokenizer = AutoTokenizer.from_pretrained(folder)
    found = []
    for messages in conversations:
        ids = tokenizer.apply_chat_template(_chat(messages), tokenize=True, add_generation_prompt=True)
        found.append([int(i) for i in (ids if isinstance(ids, list) else ids["input_ids"])])
    return found


def naive_ids(served: LlamaServerServedChat, gguf: Path, text: str) -> list[int]:
    """`POST /tokenize` with its defaults (add_special false), as a client that forgets the chat path would."""
    status, answer = served.server(gguf).call("POST", "/tokenize", {"content": text})
    assert status == 200
    return answer["tokens"]


def test_the_server_renders_the_ggufs_template_cut_of_the_bos_it_adds(gguf, served, runtime):
    _, path = gguf(CHAT_TEMPLATE)
    vocab = runtime.vocab(path)
    assert vocab.add_bos and vocab.bos == "<s>"

    renders = served.render(path, CONVERSATIONS)
    python = runtime.render(path, CONVERSATIONS)  # llama-cpp-python's jinja2: the BOS text kept

    assert all(r.error is None for r in renders), [r.error for r in renders]
    for server, jinja2 in zip(renders, python, strict=True):
        assert jinja2.text is not None and jinja2.text.startswith("<s><|im_start|>")
        assert server.text == jinja2.text.removeprefix("<s>") == fed_text(LLAMA_SERVER, jinja2.text, vocab)
        assert server.text.endswith("<|im_start|>assistant\n")  # the chat completion's generation prompt


def test_the_ids_the_server_evaluates_are_trainings_and_a_naive_tokenize_loses_the_bos(gguf, served, runtime):
    folder, path = gguf(CHAT_TEMPLATE)
    texts = [r.text for r in served.render(path, CONVERSATIONS)]

    ids = served.tokenize(path, texts)

    want = training_ids(folder, CONVERSATIONS)
    assert ids == want
    assert ids == runtime.tokenize(path, texts, add_special=True)  # llama-cpp-python's proof path: the same ids
    bos = runtime.special_tokens(path, "<s>")[0].id
    for text, got in zip(texts, ids, strict=True):
        assert got[0] == bos and naive_ids(served, path, text) == got[1:]  # the render has no BOS left to parse


def test_a_template_that_does_not_write_bos_gets_one_from_the_server(gguf, served, runtime):
    folder, path = gguf(TOOLS_THINKING)
    renders = served.render(path, CONVERSATIONS, thinking=True)
    assert [r.text for r in renders] == [r.text for r in runtime.render(path, CONVERSATIONS)]  # nothing to cut

    ids = served.tokenize(path, [r.text for r in renders])

    bos = runtime.special_tokens(path, "<s>")[0].id
    for want, got in zip(training_ids(folder, CONVERSATIONS), ids, strict=True):
        assert got == [bos, *want]
        assert first_difference(want, got, bos) == "the runtime adds a BOS token the chat template does not write"


def test_tools_and_the_thinking_switch_reach_the_template_as_transformers_renders_them(gguf, served):
    folder, path = gguf(TOOLS_THINKING)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rendered = {}
    for thinking in (True, False):
        renders = served.render(path, CONVERSATIONS, tools=TOOLS, thinking=thinking)
        want = [
            tokenizer.apply_chat_template(_chat(c), tools=list(TOOLS), enable_thinking=thinking, tokenize=False, add_generation_prompt=True)
            for c in CONVERSATIONS
        ]
        assert [r.text for r in renders] == want  # llama.cpp's tojson writes these tools as Python's does
        rendered[thinking] = renders[0].text
    assert '"name": "get_weather"' in rendered[True] and "<now> & later, in °C" in rendered[True]
    assert rendered[False].endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n") and "<think>" not in rendered[True]
    # Unasked, the server sends enable_thinking=false to this template (its parser finds no reasoning markers in
    # it), where transformers leaves it undefined (thinking on): the proof must say which setting it renders.
    assert served.render(path, CONVERSATIONS[:1], tools=TOOLS)[0].text == rendered[False]


def test_a_template_that_refuses_a_system_message_gets_it_folded_into_the_user_turn(gguf, served, runtime):
    """llama.cpp's workaround for templates without a system role: where transformers and llama-cpp-python fail,
    llama-server renders, so the proof sees a conversation only one side rejects."""
    _, path = gguf(NO_SYSTEM)
    system = PROOF_CONVERSATIONS["single turn with system"]

    served_render, python_render = served.render(path, [system])[0], runtime.render(path, [system])[0]

    assert python_render.error == "System role not supported"
    assert served_render.text == "<|im_start|>user\nYou are a terse assistant.\nHello!<|im_end|>\n<|im_start|>assistant\n"


def test_a_jinja_filter_llama_cpps_engine_lacks_fails_on_the_server_only(gguf, served, runtime):
    """What llama-cpp-python's jinja2 does not show: llama-server refuses the conversations that reach the filter."""
    _, path = gguf(ROUND)
    assert ROUND != CHAT_TEMPLATE

    served_renders, python_renders = served.render(path, CONVERSATIONS), runtime.render(path, CONVERSATIONS)

    for messages, on_server, in_python in zip(CONVERSATIONS, served_renders, python_renders, strict=True):
        assert in_python.error is None
        if len(messages) > 3:
            assert on_server.text is None and "Unknown (built-in) filter 'round'" in on_server.error and "\n" not in on_server.error
        else:
            assert on_server.text == fed_text(LLAMA_SERVER, in_python.text, runtime.vocab(path))
    assert sum(len(m) > 3 for m in CONVERSATIONS) >= 2


def test_a_conversation_the_server_refuses_is_an_error_outcome(gguf, served):
    _, path = gguf(CHAT_TEMPLATE)
    twice = (ChatMessage("user", "Hi"), ChatMessage("assistant", "Hello"), ChatMessage("assistant", "again"))
    refused, fine = served.render(path, [twice, CONVERSATIONS[0]])
    assert refused.text is None and refused.error == "Cannot have 2 or more assistant messages at the end of the list."
    assert fine.error is None and fine.text


def test_a_vocab_only_gguf_is_refused(gguf, served, tmp_path):
    folder, _ = gguf(CHAT_TEMPLATE)
    tokenizer = tmp_path / "tokenizer"
    shutil.copytree(folder, tokenizer, ignore=shutil.ignore_patterns("*.gguf", "*.safetensors"))
    vocab_only = LlamaCppConverter().check(tokenizer, tokenizer)  # the converter's preflight: no weights
    with pytest.raises(PublishError, match=r"vocab-only .*llama-server cannot serve it"):
        served.render(vocab_only, CONVERSATIONS[:1])


def test_the_architecture_is_read_from_the_header_of_a_full_or_vocab_only_gguf(gguf, served, tmp_path):
    folder, path = gguf(CHAT_TEMPLATE)
    assert served.architecture(path) == "llama"
    tokenizer = tmp_path / "tokenizer"
    shutil.copytree(folder, tokenizer, ignore=shutil.ignore_patterns("*.gguf", "*.safetensors"))
    assert served.architecture(LlamaCppConverter().check(tokenizer, tokenizer)) == "llama"
    (tmp_path / "not.gguf").write_bytes(b"GGML" + bytes(40))
    with pytest.raises(PublishError, match=r"not\.gguf is not a GGUF file"):
        served.architecture(tmp_path / "not.gguf")


def test_a_missing_server_is_one_line_naming_make_setup(gguf, tmp_path, monkeypatch):
    _, path = gguf(CHAT_TEMPLATE)
    monkeypatch.setenv(SERVER_ENV, str(tmp_path / "nowhere"))
    with LlamaServerServedChat() as fresh, pytest.raises(UserInputError) as missing:
        fresh.render(path, CONVERSATIONS[:1])
    assert "llama-server" in str(missing.value) and "`make setup`" in str(missing.value) and "\n" not in str(missing.value)


def test_one_server_per_gguf_and_close_stops_them(gguf):
    _, first = gguf(CHAT_TEMPLATE)
    _, second = gguf(TOOLS_THINKING)
    with LlamaServerServedChat() as served:
        one, again, other = served.server(first), served.server(first), served.server(second)
        assert one is again and one is not other and one.url != other.url
        assert served.render(first, [(ChatMessage("user", "Hi"),)])[0].text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert one.process.poll() is not None and other.process.poll() is not None
