"""Calibration text for an importance matrix: plain text, or chat JSONL to render with the checkpoint's template.

A calibration file is either plain UTF-8 text, or JSON Lines (a `.jsonl` file, or one whose first
line is a JSON object) with one object a line in the TRL/OpenAI shapes: `{"messages": [{"role":
..., "content": ...}, ...]}` (a conversation, rendered with the checkpoint's chat template) or
`{"text": ...}` (plain text). Anything else is a UserInputError naming the line. Pure: no I/O.
"""

from __future__ import annotations

import json

import attrs

from hubship.domain.chat_template import ChatMessage
from hubship.domain.errors import UserInputError

MIN_BYTES = 1024  # llama-imatrix needs two 512-token chunks; no token is shorter than a byte
FIX = 'pass --calibration with plain UTF-8 text or chat JSONL (one {"messages": [...]} object a line)'


@attrs.frozen(kw_only=True)
class Calibration:
    """Plain text pieces and conversations, in file order (`order` holds ("text"|"chat", index) pairs)."""

    texts: tuple[str, ...] = ()
    chats: tuple[tuple[ChatMessage, ...], ...] = ()
    order: tuple[tuple[str, int], ...] = ()


def _messages(value: object, where: str) -> tuple[ChatMessage, ...]:
    if not isinstance(value, list) or not value:
        raise UserInputError(f'{where}: "messages" must be a non-empty list; {FIX}')
    found = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("role"), str) or not isinstance(item.get("content"), str):
            raise UserInputError(f'{where}: each message needs a string "role" and a string "content"; {FIX}')
        found.append(ChatMessage(role=item["role"], content=item["content"]))
    return tuple(found)


def _jsonl(text: str, name: str) -> Calibration:
    texts: list[str] = []
    chats: list[tuple[ChatMessage, ...]] = []
    order: list[tuple[str, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise UserInputError(f"{where} is not JSON ({exc.msg}); {FIX}") from None
        if isinstance(record, dict) and "messages" in record:
            chats.append(_messages(record["messages"], where))
            order.append(("chat", len(chats) - 1))
        elif isinstance(record, dict) and isinstance(record.get("text"), str):
            texts.append(record["text"])
            order.append(("text", len(texts) - 1))
        else:
            raise UserInputError(f'{where} has neither "messages" nor "text"; {FIX}')
    if not order:
        raise UserInputError(f"{name} holds no calibration records; {FIX}")
    return Calibration(texts=tuple(texts), chats=tuple(chats), order=tuple(order))


def parse_calibration(data: bytes, name: str) -> Calibration:
    """The calibration in a file's bytes (`name` is the file's name, for messages and the `.jsonl` rule)."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{name} is not UTF-8 text (byte {exc.start}); {FIX}") from None
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if name.lower().endswith((".jsonl", ".json")) or first.startswith("{"):
        calibration = _jsonl(text, name)
    elif "\0" in text:
        raise UserInputError(f"{name} holds NUL bytes, so it is not text; {FIX}")
    else:
        calibration = Calibration(texts=(text,), order=(("text", 0),))
    size = sum(len(t.encode()) for t in calibration.texts) + sum(len(m.content.encode()) for c in calibration.chats for m in c)
    if size < MIN_BYTES:
        raise UserInputError(
            f"{name} holds {size} bytes of text; an imatrix needs at least {MIN_BYTES} tokens (two 512-token chunks): give a longer file"
        )
    return calibration


def join(pieces: list[str]) -> str:
    """The calibration text llama-imatrix reads: the pieces, each ended by a blank line."""
    return "".join(p.rstrip("\n") + "\n\n" for p in pieces if p.strip())
