from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hubship.domain.destination import Destination
from hubship.domain.publication import Publication
from hubship.ports.progress import Progress


class Registry(Protocol):
    """A place artifacts are published to (a local folder, the Hub, Ollama).

    `publish` shows each publication complete or not at all: readers never see a partial one.
    """

    scheme: str

    def locate(self, destination: Destination, name: str, fmt: str) -> str:
        """Where the artifact `fmt` of `name` goes at `destination` (a path, repo id or model name)."""
        ...

    def is_published(self, destination: Destination, name: str, fmt: str, key: str) -> bool:
        """Whether that artifact, with this content key, is already there and complete."""
        ...

    def check(self, destination: Destination) -> None:
        """Preflight before any heavy work: raise UserInputError if publishing there cannot work."""
        ...

    def publish(self, destination: Destination, publications: Sequence[Publication], progress: Progress) -> list[str]:
        """Publish every publication; returns their locations."""
        ...
