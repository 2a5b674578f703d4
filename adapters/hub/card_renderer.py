"""CardRenderer through huggingface_hub's ModelCard / ModelCardData (the Hub's own front-matter rules)."""

from __future__ import annotations

from huggingface_hub import ModelCard, ModelCardData

from hubship.domain.card import CardData


class HfCardRenderer:
    def render(self, card: CardData) -> str:
        data = ModelCardData(**card.metadata())
        text = f"---\n{data.to_yaml()}\n---\n\n{card.body()}"
        return str(ModelCard(text))
