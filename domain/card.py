"""Model card content: front-matter fields and body sections, before any rendering library sees them."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(kw_only=True)
class CardData:
    """The facts a card states. `license` stays None unless the base's own card gives one."""

    title: str
    base_model: str | None
    base_model_relation: str
    library_name: str
    license: str | None = None
    tags: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    pipeline_tag: str = "text-generation"
    summary: str = ""
    sections: tuple[tuple[str, str], ...] = ()

    def metadata(self) -> dict[str, Any]:
        """Front-matter fields, with empty ones left out."""
        meta: dict[str, Any] = {
            "base_model": self.base_model,
            "base_model_relation": self.base_model_relation,
            "library_name": self.library_name,
            "license": self.license,
            "tags": list(self.tags) or None,
            "datasets": list(self.datasets) or None,
            "pipeline_tag": self.pipeline_tag,
        }
        return {k: v for k, v in meta.items() if v}

    def body(self) -> str:
        parts = [f"# {self.title}", "", self.summary, ""]
        for heading, text in self.sections:
            parts += [f"## {heading}", "", text.rstrip(), ""]
        return "\n".join(parts).rstrip() + "\n"
