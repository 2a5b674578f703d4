"""Chat templates as data: what a rendered conversation looks like, learned by probing a template.

A chat template is treated as a black box `render(messages, ...) -> str` (the Jinja rendering is an
adapter). It is rendered on every role sequence a chat server can send, with a unique sentinel as each
message's content; the text around the sentinels is the template's *glue*. The model this module
learns is:

    prompt = lead[first kind] + content + between[(kind, next kind)] + content + ... + tail[last kind]

where a message's *kind* is its role, except that a system message at index 0 is `system0` (templates
often treat a leading system message apart). A glue string may also depend on whether its message is
the last one (Qwen3's empty think block before a prefilled answer) and on whether the conversation
opens with a system message; a leading system message may *float* into a later glue string (Mistral
puts it inside the last user turn). Kinds a template never shows are *hidden*; role orders a template
rejects (`raise_exception`) are described by a few *rules*. Anything the model cannot explain exactly
(glue that depends on turn numbers or content, reordered or duplicated messages, rejection patterns
outside the rules) makes the template not derivable, with a one-line reason.

The BOS rule comes from the runtime: llama.cpp and Ollama add the BOS token themselves only when the
GGUF says so (`tokenizer.ggml.add_bos_token`), so the leading BOS text of a render is removed only then.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import attrs

from hubship.domain.chat_dates import MARKERS, Clock

ROLES = ("system", "user", "assistant")
SYSTEM0 = "system0"
KINDS = (SYSTEM0, "system", "user", "assistant")
MAX_PROBE_LENGTH = 5


@attrs.frozen
class ToolCall:
    """A function call an assistant message makes: `arguments` is a JSON object's text, keys in the caller's order
    (Jinja receives it decoded in that order, or as this text itself with `as_text`, as OpenAI's format carries it;
    Ollama hands its template a Go map); `id` as the API gives it ("" for none)."""

    name: str
    arguments: str = "{}"
    id: str = ""
    as_text: bool = False


@attrs.frozen
class ChatMessage:
    """One message; `tool_calls`/`thinking` belong to assistant messages, `tool_name`/`tool_call_id` to tool results
    (Jinja: `tool_calls`, `reasoning_content`, `name`, `tool_call_id`; Ollama: `.ToolCalls`, `.Thinking`, `.ToolName`,
    `.ToolCallID`)."""

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    thinking: str = ""
    tool_name: str = ""
    tool_call_id: str = ""


@attrs.frozen(kw_only=True)
class ChatProfile:
    """What a chat front end needs from a checkpoint: its template and the tokens around it.

    `tokens` are the named special tokens the template sees (bos_token, eos_token, ...), exactly as
    transformers passes them; `bos_id` the BOS token's id; `add_bos` whether the runtime adds the BOS token
    itself: as read from a tokenizer, whether `tokenizer(text)` adds it (the base's `add_bos_token` where
    transformers 5 dropped it on save); a publish evolves it to its BOS choice (domain.bos_choice), which
    the GGUF's `tokenizer.ggml.add_bos_token` says; `space_after_special` whether a SentencePiece-style
    tokenizer writes `▁` before text that follows a special token, as it does at the start (None: the
    tokenizer writes no `▁` at the start either, so the question does not arise); `strip_after_special` whether it
    drops the whitespace after the special tokens llama.cpp's `phi3` name rule strips after (None: some do, some
    do not, or it has none; domain.gguf_tokenizer);
    `control_tokens` every special/added token text of the tokenizer; `eos_tokens` the tokenizer's EOS
    plus the generation config's `eos_token_id`s; `generation` the checkpoint's generation_config.json
    values; `license_text` the base's LICENSE file, if any.
    """

    template: str | None
    tokens: Mapping[str, str] = attrs.field(factory=dict)
    add_bos: bool = False
    bos_id: int | None = None
    space_after_special: bool | None = None
    strip_after_special: bool | None = None
    control_tokens: tuple[str, ...] = ()
    eos_tokens: tuple[str, ...] = ()
    generation: Mapping[str, object] = attrs.field(factory=dict)
    license_text: str | None = None

    @property
    def bos(self) -> str | None:
        return self.tokens.get("bos_token") or None

    @property
    def runtime_bos(self) -> str | None:
        """The BOS text the runtime adds as a token (None when it adds none): what a render must not repeat."""
        return self.bos if self.add_bos else None


class TemplateRejected(Exception):
    """The template refused a conversation (it called `raise_exception`, or failed on it)."""


class TemplateNotDerivable(Exception):
    """The template cannot be translated faithfully; the message says why, in one line."""


Render = Callable[..., str]
"""`render(messages, *, add_generation_prompt: bool, continue_final: bool, clock: Clock | None = None, tools: Sequence[str]
= (), think: bool | None = None) -> str`; raises TemplateRejected. `clock` is what `strftime_now` answers (None: the real
time); `tools` the tool definitions (JSON texts) offered, each a tool or a JSON list of tools (none: `tools` is not
passed; EMPTY_TOOLS: an empty list is); `think` the thinking switch (None: not set)."""
EMPTY_TOOLS = ("[]",)
"""`tools=` an empty list, for templates that fail without tools (Hermes 2 Pro's `for tool in tools`)."""


@attrs.frozen
class Rule:
    """A rejection rule: `name` is one of RULES; `message` is what the template says when it rejects."""

    name: str
    message: str


RULES = ("no_leading_system", "no_later_system", "alternate", "first_user")


GlueKey = tuple[str, str, bool | None, bool | None]
"""(previous shown kind or "" before the first, kind of the next message or "" for the tail, the next
message is the last, the conversation opens with a system message); a feature the template does not
depend on is None."""
FEATURES = ("last", "system")
SYSTEM_SLOT = "\x00HUBSHIPSYSTEM\x00"
"""Where a floating leading system message's content goes inside a glue string."""


def glue_key(prev: str, kind: str, *, last: bool, system: bool, features: Sequence[str]) -> GlueKey:
    return (prev, kind, last if "last" in features else None, system if "system" in features else None)


@attrs.frozen(kw_only=True)
class ChatStructure:
    """What a template does with a conversation, in glue strings and rules (see the module docstring).

    `glue` maps each GlueKey (projected on `features`) to its text; `floating_system` says the leading
    system message is written inside glue strings (SYSTEM_SLOT) instead of at its place; `dates` the
    strftime formats the template writes (as date markers in the glue). `default_system` is the system
    prompt the template uses when none is given (None: it has none); `later_system_supported` is False
    when system messages after the first are rejected by hubship because the template treats them
    inconsistently; `trimmed` the kinds whose contents lose surrounding whitespace (`"user: leading"`
    ...); `assistant_end` is what follows a finished assistant turn; `bos` the BOS the runtime adds.
    """

    glue: Mapping[GlueKey, str]
    features: tuple[str, ...] = ()
    floating_system: bool = False
    hidden: frozenset[str] = frozenset()
    rules: tuple[Rule, ...] = ()
    later_system_supported: bool = True
    default_system: str | None = None
    trimmed: tuple[str, ...] = ()
    assistant_end: str = ""
    bos: str | None = None
    dates: tuple[str, ...] = ()
    inputs: str = ""
    """What the template needs beyond the conversation to render at all (application.chat_inputs; "" nothing)."""
    later: bool = False
    """The `last` feature also holds for assistant messages after the last user message (Qwen3.5 writes an empty think
    block before each of them, with tools: calls and their answer), not only for the final message (chat_glue.split)."""

    def text(self, prev: str, kind: str, *, last: bool, system: bool) -> str | None:
        """The glue before a `kind` message (or the tail, kind "") after a `prev` one; None if never seen."""
        return self.glue.get(glue_key(prev, kind, last=last, system=system, features=self.features))

    def after(self, kind: str) -> list[str]:
        """Every glue string that follows a `kind` message."""
        return [text for key, text in self.glue.items() if key[0] == kind]

    @property
    def lead(self) -> dict[str, str]:
        return {k[1]: t for k, t in self.glue.items() if k[0] == "" and k[1]}

    @property
    def between(self) -> dict[tuple[str, str], str]:
        return {(k[0], k[1]): t for k, t in self.glue.items() if k[0] and k[1]}

    @property
    def tail(self) -> dict[str, str]:
        return {k[0]: t for k, t in self.glue.items() if not k[1]}

    @property
    def trims_content(self) -> bool:
        return bool(self.trimmed)


def kinds_of(roles: Sequence[str]) -> tuple[str, ...]:
    return tuple(SYSTEM0 if i == 0 and r == "system" else r for i, r in enumerate(roles))


def probe_sequences(max_length: int = MAX_PROBE_LENGTH) -> list[tuple[str, ...]]:
    """Every role order a chat server sends: no two equal roles in a row (Ollama merges those), at
    least one user message, ending with a user (generate) or assistant (prefill) message."""
    found = []
    for length in range(1, max_length + 1):
        for roles in itertools.product(ROLES, repeat=length):
            if any(a == b for a, b in itertools.pairwise(roles)) or "user" not in roles or roles[-1] == "system":
                continue
            found.append(roles)
    return found


def sentinel(index: int) -> str:
    return f"HUBSHIPMSG{index}X"


def violates(rule: str, roles: Sequence[str]) -> bool:
    """Whether a role order breaks a rejection rule."""
    lead_system = bool(roles) and roles[0] == "system"
    core = roles[1:] if lead_system else roles
    speaking = [r for r in core if r != "system"]
    if rule == "no_leading_system":
        return lead_system
    if rule == "no_later_system":
        return "system" in roles[1:]
    if rule == "alternate":
        return any(r != ("user" if k % 2 == 0 else "assistant") for k, r in enumerate(speaking))
    if rule == "first_user":
        return bool(speaking) and speaking[0] != "user"
    raise ValueError(rule)


def strip_bos(text: str, bos: str | None) -> str:
    """The render minus the leading BOS text when the runtime adds that BOS itself (`bos`: the runtime's
    BOS, None when it adds none, as ChatProfile.runtime_bos)."""
    return text[len(bos) :] if bos and text.startswith(bos) else text


def render_prompt(render: Render, messages: Sequence[ChatMessage], clock: Clock | None = MARKERS) -> str:
    """Render as a chat server needs it: a generation prompt after a user turn, a prefill after an assistant one."""
    prefill = bool(messages) and messages[-1].role == "assistant"
    return render(list(messages), add_generation_prompt=not prefill, continue_final=prefill, clock=clock)


@attrs.frozen
class Observation:
    roles: tuple[str, ...]
    text: str | None
    error: str | None

    @property
    def rejected(self) -> bool:
        return self.text is None


def observe(render: Render, roles: tuple[str, ...], bos: str | None) -> Observation:
    messages = [ChatMessage(r, sentinel(i)) for i, r in enumerate(roles)]
    try:
        return Observation(roles, strip_bos(render_prompt(render, messages), bos), None)
    except TemplateRejected as exc:
        return Observation(roles, None, str(exc) or "rejected")
