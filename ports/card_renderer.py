from __future__ import annotations

from typing import Protocol

from hubship.domain.card import CardData


class CardRenderer(Protocol):
    """Renders card data as a model card README.md (YAML front matter + markdown body)."""

    def render(self, card: CardData) -> str: ...
