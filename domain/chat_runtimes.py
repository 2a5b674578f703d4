"""How each runtime turns a rendered chat prompt into the ids it feeds the model, in one place.

Read from their sources (late 2026; the llama.cpp ones at the commit llama-cpp-python 0.3.36 vendors):
- llama-cpp-python's chat API renders the GGUF's template with `Jinja2ChatFormatter`, whose response says
  `added_special=True`, so `chat_formatter_to_chat_completion_handler` tokenizes it with `add_bos=False`: the
  render is fed as written, BOS only where the template writes its text (llama_cpp/llama_chat_format.py).
- llama-server renders with llama.cpp's own Jinja engine and cuts a leading BOS text when the vocabulary adds
  BOS, and a trailing EOS text when it adds EOS (`common/chat.cpp`, after `runtime.execute`); the chat completion
  then tokenizes with `add_special` and `parse_special` (`tokenize_input_prompts(..., true, true)` in
  tools/server/server-context.cpp), so BOS (and EOS) come from the GGUF's `tokenizer.ggml.add_bos_token`.
- Ollama renders the Modelfile's Go TEMPLATE and tokenizes the text with special tokens added from the GGUF
  (its runners' `Tokenize(prompt, addSpecial=true, ...)` / the text processor's `addSpecials`), without cutting
  anything: a TEMPLATE that writes BOS while the GGUF adds it feeds two.
Which runtimes hubship configures: llama-server and Ollama feed what the GGUF's add_bos_token and the derived
TEMPLATE say, both of which hubship writes; llama-cpp-python's chat API cannot be told to add a BOS.
"""

from __future__ import annotations

import attrs

from hubship.domain.chat_proof import RuntimeVocab


@attrs.frozen
class ChatRuntimeRule:
    """`cuts_bos_text`/`cuts_eos_text`: the runtime removes that text from the render when it adds the token
    itself; `adds_special`: it tokenizes with the GGUF's BOS/EOS added; `configurable`: hubship's files decide
    what it feeds (a leading-BOS difference there is hubship's to fix, not a property of the runtime)."""

    name: str
    label: str
    cuts_bos_text: bool
    cuts_eos_text: bool
    adds_special: bool
    configurable: bool


LLAMA_CPP_PYTHON = ChatRuntimeRule(
    "llama-cpp-python", "llama-cpp-python's chat API", cuts_bos_text=False, cuts_eos_text=False, adds_special=False, configurable=False
)
LLAMA_SERVER = ChatRuntimeRule(
    "llama-server", "llama.cpp's llama-server", cuts_bos_text=True, cuts_eos_text=True, adds_special=True, configurable=True
)
OLLAMA = ChatRuntimeRule("ollama", "Ollama", cuts_bos_text=False, cuts_eos_text=False, adds_special=True, configurable=True)
GGUF_RUNTIMES = (LLAMA_SERVER, LLAMA_CPP_PYTHON)
"""The runtimes that serve a GGUF's own chat template."""


def fed_text(rule: ChatRuntimeRule, text: str, vocab: RuntimeVocab) -> str:
    """The text `rule`'s runtime tokenizes for a render of its template (then with `rule.adds_special`)."""
    if rule.cuts_bos_text and vocab.add_bos and vocab.bos and text.startswith(vocab.bos):
        text = text[len(vocab.bos) :]
    if rule.cuts_eos_text and vocab.add_eos and vocab.eos and text.endswith(vocab.eos):
        text = text[: len(text) - len(vocab.eos)]
    return text
