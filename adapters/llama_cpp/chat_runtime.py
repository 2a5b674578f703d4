"""ChatRuntime through llama-cpp-python: a GGUF's tokenizer, its embedded chat template, its end-of-generation tokens.

The template is rendered by `llama_cpp.llama_chat_format.Jinja2ChatFormatter` set up as `Llama` sets it
up for a GGUF (the BOS/EOS texts of its vocabulary), so the text is what llama-cpp-python's chat API
serves; ids come from llama.cpp's own tokenizer (`tokenize(..., add_bos=<add_special>, special=True)`: llama.cpp
then adds BOS/EOS only where the GGUF says so), and `llama_vocab_is_eog` says which tokens end generation. The
vocabulary is loaded once per file (vocab only: no weights); `complete` loads the weights for one greedy chat
completion, with a context that holds the rendered prompt (long default system prompts run to thousands of tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from hubship.adapters.llama_cpp.threads import free_threads
from hubship.domain.chat_proof import Completion, RuntimeVocab, SpecialToken
from hubship.domain.chat_template import ChatMessage
from hubship.domain.errors import PublishError
from hubship.domain.template_check import RenderOutcome

SPECIAL = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
MIN_CONTEXT = 512
CONTEXT_MARGIN = 16  # the BOS/EOS llama.cpp may add, and the generation's own bookkeeping


def _chat(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


class LlamaCppChatRuntime:
    def __init__(self) -> None:
        self._loaded: dict[tuple[str, int, int], llama_cpp.Llama] = {}

    def _vocab_model(self, gguf: Path) -> llama_cpp.Llama:
        stat = Path(gguf).stat()
        key = (str(Path(gguf).resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._loaded:
            try:
                self._loaded[key] = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, n_ctx=16, n_batch=16, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise PublishError(f"llama.cpp cannot load the vocabulary of {Path(gguf).name} ({exc})") from None
        return self._loaded[key]

    def _text(self, llm: llama_cpp.Llama, token: int) -> str | None:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else None

    def vocab(self, gguf: Path) -> RuntimeVocab:
        llm = self._vocab_model(gguf)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        return RuntimeVocab(
            add_bos=bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
            add_eos=bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
            bos=self._text(llm, llm.token_bos()),
            eos=self._text(llm, llm.token_eos()),
            template=llm.metadata.get("tokenizer.chat_template"),
        )

    def render(self, gguf: Path, conversations: Sequence[Sequence[ChatMessage]]) -> list[RenderOutcome]:
        vocab = self.vocab(gguf)
        if vocab.template is None:
            return [RenderOutcome(error="the GGUF has no chat template") for _ in conversations]
        formatter = Jinja2ChatFormatter(template=vocab.template, eos_token=vocab.eos or "", bos_token=vocab.bos or "")
        found = []
        for messages in conversations:
            try:
                found.append(RenderOutcome(text=formatter(messages=_chat(messages)).prompt))  # type: ignore[arg-type]
            except Exception as exc:  # raise_exception, or the template failing on this conversation
                found.append(RenderOutcome(error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return found

    def tokenize(self, gguf: Path, texts: Sequence[str], *, add_special: bool) -> list[list[int]]:
        llm = self._vocab_model(gguf)
        return [list(llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=True)) for text in texts]

    def special_tokens(self, gguf: Path, text: str) -> list[SpecialToken]:
        llm = self._vocab_model(gguf)
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        found = []
        for token in llm.tokenize(text.encode("utf-8"), add_bos=False, special=True):
            if llama_cpp.llama_vocab_get_attr(vocab, token) & SPECIAL:
                found.append(SpecialToken(self._text(llm, token) or "", int(token), bool(llama_cpp.llama_vocab_is_eog(vocab, token))))
        return found

    def complete(self, gguf: Path, messages: Sequence[ChatMessage], max_tokens: int) -> Completion:
        """One greedy chat completion as llama-cpp-python's chat API runs it (its Jinja formatter's prompt, stop strings
        and criteria), with max_tokens enforced by a criterion of its own: llama-cpp-python skips its max_tokens check
        while the text ends in an incomplete UTF-8 sequence, so a model that keeps emitting a lead byte (a random
        model with byte fallback does) runs until the context is full and llama_decode fails."""
        threads = free_threads()  # prompt and generation alike: llama-cpp-python's default puts every core on the prompt
        vocab = self.vocab(gguf)
        formatter = Jinja2ChatFormatter(template=vocab.template or "", eos_token=vocab.eos or "", bos_token=vocab.bos or "")
        rendered = formatter(messages=_chat(messages))  # type: ignore[arg-type]
        prompt = self._vocab_model(gguf).tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        n_ctx = max(MIN_CONTEXT, -(-(len(prompt) + max_tokens + CONTEXT_MARGIN) // 256) * 256)
        sampled = [0]

        def at_most(_ids: object, _logits: object) -> bool:
            sampled[0] += 1
            return sampled[0] > max_tokens

        stops = llama_cpp.StoppingCriteriaList([at_most, *(rendered.stopping_criteria or [])])
        llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
        try:
            answer = llm.create_completion(
                prompt, temperature=0.0, max_tokens=max_tokens, stop=rendered.stop, stopping_criteria=stops, seed=0
            )
        finally:
            llm.close()
        choice, used = answer["choices"][0], int(answer["usage"]["completion_tokens"])  # type: ignore[index]
        finish = "length" if used >= max_tokens else str(choice["finish_reason"])
        return Completion(finish, used, choice["text"] or "")
