"""The Hub token of a publish: from --token-file, else HF_TOKEN or the saved login (huggingface_hub's `get_token`).

A missing, empty or unreadable token is a UserInputError naming the fix; the token itself is never shown.
"""

from __future__ import annotations

from pathlib import Path

from hubship.domain.errors import UserInputError
from hubship.domain.hub_layout import HubOptions


def hub_token(opts: HubOptions) -> str:
    """The token to publish with."""
    from huggingface_hub import get_token

    if opts.token_file:
        path = Path(opts.token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(
                f"cannot read the token file {path} ({getattr(exc, 'strerror', None) or exc.__class__.__name__});"
                " pass --token-file with a readable file"
            ) from None
        if not token:
            raise UserInputError(f"the token file {path} is empty; put the token in it or use HF_TOKEN")
    else:
        token = get_token()
    if not token:
        raise UserInputError("no Hub token found; set HF_TOKEN, log in with `hf auth login`, or pass --token-file FILE")
    return token
