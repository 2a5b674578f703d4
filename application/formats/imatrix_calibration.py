"""The calibration text of an imatrix: the user's `--calibration FILE`, or the set hubship ships, chats rendered
with the checkpoint's own chat template.

The default set (package data in `calibration/`, written for hubship, Apache-2.0 like hubship) is
diverse plain text (`default.txt`) plus conversations (`default-chat.jsonl`); see
docs/adr/012-imatrix.md for why and how big. A user's chat JSONL must render through the template;
a conversation of the default set the template rejects (e.g. a template without a system role) is
written as plain `role: content` lines instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from hubship.domain.calibration import Calibration, join, parse_calibration
from hubship.domain.chat_template import ChatMessage, TemplateNotDerivable, TemplateRejected
from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.errors import UserInputError
from hubship.ports.chat_renderer import ChatRenderer

DEFAULT_FILES = ("default.txt", "default-chat.jsonl")
DEFAULT_LABEL = "hubship's default calibration set"


def _sources(options: Mapping[str, Any]) -> list[tuple[str, bytes]]:
    """(name, bytes) of each calibration file in force."""
    given = options.get("calibration")
    if not given:
        folder = files("hubship.application.formats").joinpath("calibration")
        return [(name, folder.joinpath(name).read_bytes()) for name in DEFAULT_FILES]
    path = Path(str(given)).expanduser()
    try:
        return [(path.name, path.read_bytes())]
    except OSError as exc:
        raise UserInputError(
            f"cannot read calibration file {given} ({exc.strerror or exc}); pass --calibration with a text or JSONL file"
        ) from None


def calibration_label(options: Mapping[str, Any]) -> str:
    """What the calibration is, for cards: the file's name, or the default set."""
    given = options.get("calibration")
    return f"`{Path(str(given)).name}`" if given else DEFAULT_LABEL


def calibration_digest(options: Mapping[str, Any]) -> str:
    """sha256 over the calibration files in force (it goes into the imatrix's content key)."""
    digest = hashlib.sha256()
    for name, data in _sources(options):
        digest.update(f"\0{name}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def calibration_params(options: Mapping[str, Any]) -> dict[str, Any]:
    """What a calibrated format's content key and card take from the options: the calibration's digest, its label
    and the user's file (absolute; None for the default set)."""
    given = options.get("calibration")
    path = str(Path(str(given)).expanduser().absolute()) if given else None
    return {"calibration": calibration_digest(options), "calibration_label": calibration_label(options), "calibration_path": path}


def calibration_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The options `calibration_params` was made from (for load_calibration at build time)."""
    return {"calibration": params["calibration_path"]} if params.get("calibration_path") else {}


def load_calibration(options: Mapping[str, Any]) -> Calibration:
    """The calibration in force, parsed; a file that is not calibration text is a UserInputError (one line)."""
    parts = [parse_calibration(data, name) for name, data in _sources(options)]
    texts, chats, order = [], [], []
    for part in parts:
        order += [(kind, index + (len(texts) if kind == "text" else len(chats))) for kind, index in part.order]
        texts += part.texts
        chats += part.chats
    return Calibration(texts=tuple(texts), chats=tuple(chats), order=tuple(order))


def _plain(messages: tuple[ChatMessage, ...]) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in messages)


def render_calibration(calibration: Calibration, checkpoint: Checkpoint, base: BaseInfo, renderer: ChatRenderer, *, strict: bool) -> str:
    """The text llama-imatrix reads: texts as they are, chats through the checkpoint's chat template.

    `strict` (the user's own file): a missing template, or one that rejects a conversation, is a
    UserInputError; otherwise such a conversation is written as plain `role: content` lines.
    """
    profile = renderer.profile(checkpoint, base) if calibration.chats else None
    if strict and profile is not None and profile.template is None:
        raise UserInputError("the checkpoint has no chat template to render the --calibration conversations with; pass plain text instead")
    pieces = []
    for kind, index in calibration.order:
        if kind == "text":
            pieces.append(calibration.texts[index])
            continue
        messages = calibration.chats[index]
        if profile is None or profile.template is None:
            pieces.append(_plain(messages))
            continue
        try:
            pieces.append(renderer.render(profile.template, profile.tokens, messages, add_generation_prompt=False, continue_final=False))
        except (TemplateRejected, TemplateNotDerivable) as exc:
            if strict:
                raise UserInputError(
                    f"the checkpoint's chat template rejects --calibration conversation {index + 1} ({exc});"
                    " fix that conversation or pass plain text"
                ) from None
            pieces.append(_plain(messages))
    return join(pieces)
