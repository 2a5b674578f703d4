"""ChatRenderer through transformers' own chat-template rendering (its sandboxed Jinja environment).

`render` calls `transformers.utils.chat_template_utils.render_jinja_template`, the function
`apply_chat_template` uses, with the tokenizer's named special tokens as template variables, so the
text is byte-identical to what the model saw in training; a `clock` makes `strftime_now` answer it
(jinja_clock). `profile` reads the tokenizer with AutoTokenizer (no weights) to get those tokens, whether
encoding adds BOS (what the GGUF converter writes as add_bos_token), the control tokens and the EOS ids;
`token_ids` are `apply_chat_template(..., tokenize=True)`'s, the ids the model was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from hubship.adapters.torch.jinja_clock import PREFIX, PREFIX_LINES, clock_variables
from hubship.domain.chat_dates import Clock
from hubship.domain.chat_template import ChatMessage, ChatProfile, TemplateNotDerivable, TemplateRejected
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError

LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE")


def _ids(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value]
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def chat_message(m: ChatMessage) -> dict[str, Any]:
    """A message as transformers' chat format has it: tool calls as `{"type": "function", "function": {...}}` with
    decoded arguments (keys in the caller's order; their text for a call `as_text`), reasoning as `reasoning_content`, a
    tool result's `name`/`tool_call_id`."""
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["tool_calls"] = [
            {
                **({"id": c.id} if c.id else {}),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments if c.as_text else json.loads(c.arguments)},
            }
            for c in m.tool_calls
        ]
    if m.thinking:
        out["reasoning_content"] = m.thinking
    if m.tool_name:
        out["name"] = m.tool_name
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out


def _tools(texts: Sequence[str]) -> list[Any] | None:
    """The tools as `tools=` takes them: each text is a tool or a JSON list of tools; None when there are no texts."""
    if not texts:
        return None
    loaded = [json.loads(t) for t in texts]
    return [x for item in loaded for x in (item if isinstance(item, list) else [item])]


def chat_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    return [chat_message(m) for m in messages]


def _adds_bos(tokenizer: Any, own: Path | None, base: Path) -> bool:
    """Whether `tokenizer(text)` adds BOS; where the checkpoint's tokenizer_config.json (`own`) has no add_bos_token
    and the base's has one (transformers 5 drops it on save), the base's setting."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    kept = _read_json(base / "tokenizer_config.json").get("add_bos_token")
    if own is not None and "add_bos_token" not in _read_json(own / "tokenizer_config.json") and isinstance(kept, bool):
        return kept
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def _space_after_special(tokenizer: Any) -> bool | None:
    """Whether text after a special token gets the `▁` that a SentencePiece-style tokenizer puts at the start; None
    when the tokenizer puts none at the start (byte-level BPE and the like)."""
    special = tokenizer.bos_token or next(iter(tokenizer.all_special_tokens), None)
    alone = tokenizer.convert_ids_to_tokens(tokenizer("Hello", add_special_tokens=False)["input_ids"])
    if special is None or not alone or not str(alone[0]).startswith("▁"):
        return None
    after = tokenizer.convert_ids_to_tokens(tokenizer(special + "Hello", add_special_tokens=False)["input_ids"])
    return len(after) > 1 and str(after[1]).startswith("▁")


KEPT_BY_THE_STRIP_RULE = ("<unk>", "<s>", "<|endoftext|>")  # llama.cpp's phi3 rule strips after every other special token


def _strip_after_special(tokenizer: Any) -> bool | None:
    """Whether the tokenizer drops a newline after the special tokens llama.cpp's phi3 name rule strips after
    (domain.gguf_tokenizer): True when after all of them, False when after none, None when mixed or none."""
    decoder = tokenizer.added_tokens_decoder.values()
    tokens = [t.content for t in decoder if t.special and t.content not in KEPT_BY_THE_STRIP_RULE]
    strips = {
        tokenizer(t + "\nHi", add_special_tokens=False)["input_ids"] == tokenizer(t + "Hi", add_special_tokens=False)["input_ids"]
        for t in tokens
    }
    return strips.pop() if len(strips) == 1 else None


class JinjaChatRenderer:
    def __init__(self) -> None:
        self._tokenizers: dict[str, Any] = {}

    def _tokenizer(self, checkpoint: Checkpoint, base: BaseInfo) -> Any:
        from transformers import AutoTokenizer  # imported when used: plan-time services stay light

        source = Path(checkpoint.root) if checkpoint.tokenizer_files else Path(base.path)
        if str(source) not in self._tokenizers:
            try:
                self._tokenizers[str(source)] = AutoTokenizer.from_pretrained(str(source))
            except Exception as exc:
                raise UserInputError(
                    f"cannot read the tokenizer in {source} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''});"
                    " re-save it from the trainer"
                ) from None
        return self._tokenizers[str(source)]

    def profile(self, checkpoint: Checkpoint, base: BaseInfo) -> ChatProfile:
        tokenizer = self._tokenizer(checkpoint, base)
        template = checkpoint.chat_template or tokenizer.chat_template
        if isinstance(template, dict):
            template = template.get("default")
        generation = next(
            (data for folder in (Path(checkpoint.root), Path(base.path)) if (data := _read_json(folder / "generation_config.json"))), {}
        )
        eos = [tokenizer.eos_token] if tokenizer.eos_token else []
        eos += [t for t in tokenizer.convert_ids_to_tokens(_ids(generation.get("eos_token_id"))) if t]
        controls = [t.content for t in tokenizer.added_tokens_decoder.values() if t.special]
        license_file = next((Path(base.path) / n for n in LICENSE_FILES if (Path(base.path) / n).is_file()), None)
        return ChatProfile(
            template=template if isinstance(template, str) else None,
            tokens=dict(tokenizer.special_tokens_map),
            add_bos=_adds_bos(tokenizer, Path(checkpoint.root) if checkpoint.tokenizer_files else None, Path(base.path)),
            bos_id=tokenizer.bos_token_id,
            space_after_special=_space_after_special(tokenizer),
            strip_after_special=_strip_after_special(tokenizer),
            control_tokens=tuple(dict.fromkeys([*tokenizer.all_special_tokens, *controls])),
            eos_tokens=tuple(dict.fromkeys(eos)),
            generation=generation,
            license_text=license_file.read_text(encoding="utf-8", errors="replace") if license_file else None,
        )

    def render(
        self,
        template: str,
        tokens: Mapping[str, str],
        messages: Sequence[ChatMessage],
        *,
        add_generation_prompt: bool,
        continue_final: bool,
        clock: Clock | None = None,
        tools: Sequence[str] = (),
        think: bool | None = None,
    ) -> str:
        from transformers.utils.chat_template_utils import render_jinja_template

        prefix = PREFIX if clock is not None else ""
        switch = {} if think is None else {"enable_thinking": think}
        try:
            rendered, _ = render_jinja_template(
                conversations=[chat_messages(messages)],
                tools=_tools(tools),
                chat_template=prefix + template,
                add_generation_prompt=add_generation_prompt,
                continue_final_message=continue_final,
                **dict(tokens),
                **switch,
                **(clock_variables(clock) if clock is not None else {}),
            )
        except jinja2.TemplateSyntaxError as exc:
            line = (exc.lineno or 0) - (PREFIX_LINES if prefix else 0)
            raise TemplateNotDerivable(f"the chat template does not parse (line {line}: {exc.message})") from None
        except Exception as exc:  # raise_exception, or the template failing on this conversation
            raise TemplateRejected(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        return rendered[0]

    def token_ids(
        self,
        checkpoint: Checkpoint,
        base: BaseInfo,
        template: str,
        conversations: Sequence[Sequence[ChatMessage]],
        tools: Sequence[str] = (),
        variables: Mapping[str, Any] | None = None,
    ) -> list[list[int] | None]:
        tokenizer = self._tokenizer(checkpoint, base)
        found: list[list[int] | None] = []
        for messages in conversations:
            chat = chat_messages(messages)
            try:
                ids = tokenizer.apply_chat_template(
                    chat, chat_template=template, tokenize=True, add_generation_prompt=True, tools=_tools(tools), **(variables or {})
                )
            except Exception:  # the template rejects this conversation
                found.append(None)
                continue
            ids = ids["input_ids"] if not isinstance(ids, list) else ids
            found.append([int(i) for i in ids])
        return found
