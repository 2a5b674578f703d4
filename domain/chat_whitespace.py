"""Which message contents a chat template trims, found by rendering contents padded with spaces and newlines.

Ollama passes contents as sent and its Go templates have no trim function, so where a template strips
whitespace around a content the two differ for contents that start or end with whitespace, and only
there. The card and the manifest name exactly those contents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hubship.domain.chat_template import ChatMessage, sentinel

PAD = " \n"
Probe = Callable[..., str | None]
"""`probe(messages, *, add_generation_prompt, continue_final) -> text or None when rejected`"""


def _padded(roles: Sequence[str]) -> list[ChatMessage]:
    return [ChatMessage(role, PAD + sentinel(i) + PAD) for i, role in enumerate(roles)]


def _lost(text: str, core: str) -> str | None:
    """Which whitespace around `core` (sent as PAD + core + PAD) the render lost; None: kept whole, or not shown."""
    if PAD + core + PAD in text or core not in text:
        return None
    kept_leading, kept_trailing = PAD + core in text, core + PAD in text
    if not kept_leading and not kept_trailing:
        return "leading and trailing"
    return "trailing" if kept_leading else "leading"


def trimmed_contents(probe: Probe) -> tuple[str, ...]:
    """One entry per content kind the template trims, e.g. `user messages (leading and trailing whitespace)`."""
    found: dict[str, str] = {}
    cases = (
        (("system", "user", "assistant", "user"), False, ("system", "user", "assistant messages in the history", "user")),
        (("user", "assistant"), True, ("user", "a prefilled assistant message")),
    )
    for roles, prefill, names in cases:
        messages = _padded(roles)
        text = probe(messages, add_generation_prompt=not prefill, continue_final=prefill)
        if text is None:
            continue
        for message, name in zip(messages, names, strict=True):
            side = _lost(text, message.content.strip())
            if side:
                found.setdefault(name if " " in name else f"{name} messages", f"{side} whitespace")
    return tuple(f"{name} ({side})" for name, side in found.items())
