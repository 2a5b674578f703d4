"""Model cards on the Hub: one card for a repo or folder holding several artifacts, and READMEs hubship did not write."""

from __future__ import annotations

import re
from collections.abc import Iterable

from hubship.adapters.hub.remote import RemoteTree, read_file
from hubship.adapters.hub.session import HubSession
from hubship.domain.hub_sync import git_blob_oid


def merge_cards(cards: list[str]) -> str:
    """One card for a repo or folder holding several artifacts: the first card's metadata with every tag, all bodies."""
    if len(cards) == 1:
        return cards[0]
    from huggingface_hub import ModelCard, ModelCardData

    parsed = [ModelCard(c, ignore_metadata_errors=True) for c in cards]
    data = parsed[0].data.to_dict()
    data["tags"] = list(dict.fromkeys(t for p in parsed for t in (p.data.tags or []))) or None
    body = "\n\n".join(_unique_sections(p.text.strip() for p in parsed))
    return str(ModelCard(f"---\n{ModelCardData(**data).to_yaml()}\n---\n\n{body}\n"))


def _unique_sections(bodies: Iterable[str]) -> list[str]:
    """Each body without the `## ` sections an earlier body already has word for word (e.g. the quantization table
    every GGUF card of one repo carries), so the merged card says each thing once."""
    seen: set[str] = set()
    kept = []
    for body in bodies:
        parts = re.split(r"(?m)^(?=## )", body)
        fresh = [p for p in parts if not p.startswith("## ") or p.strip() not in seen]
        seen.update(p.strip() for p in parts if p.startswith("## "))
        kept.append("".join(fresh).strip())
    return kept


def is_user_readme(hub: HubSession, repo_id: str, remote: RemoteTree, path: str, card: bytes) -> bool:
    """Whether `path` holds a README that hubship did not write (one without the `hubship` tag, or unreadable)."""
    found = remote.files.get(path)
    if found is None or found.git_oid == git_blob_oid(card):
        return False
    text = (read_file(hub, repo_id, path, remote.head) or b"").decode(errors="replace")
    from huggingface_hub import ModelCard

    try:
        return "hubship" not in (ModelCard(text).data.tags or [])
    except Exception:
        return True
