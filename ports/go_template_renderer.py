from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hubship.domain.template_check import OllamaCase, RenderOutcome, TemplateTags


class GoTemplateRenderer(Protocol):
    """Renders an Ollama TEMPLATE with Go's text/template on the data Ollama's server passes it."""

    def version(self) -> str | None:
        """The Go toolchain's version, or None when Go is not installed (the check is then skipped)."""
        ...

    def render(self, template: str, cases: Sequence[OllamaCase]) -> list[RenderOutcome]:
        """One outcome per case, in order; raises TemplateNotDerivable if the template does not parse."""
        ...

    def tags(self, template: str) -> TemplateTags:
        """The tool-call and thinking tags Ollama reads from the template's parse tree; raises TemplateNotDerivable if
        the template does not parse."""
        ...
