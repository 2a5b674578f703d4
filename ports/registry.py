from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from hubship.domain.destination import Destination
from hubship.domain.publication import Delivery, Publication
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

    def publish(self, destination: Destination, publications: Sequence[Publication], progress: Progress) -> list[Delivery]:
        """Publish every publication; returns where each went and in what state, one Delivery per publication, in order."""
        ...


@runtime_checkable
class ChoosesFormats(Protocol):
    """A registry that publishes formats of its own choosing (Ollama: one GGUF, packaged with a Modelfile).

    The plan adds them even when not requested, and publishes only them there; when every destination
    chooses, no `--format` is needed.
    """

    def formats_for(self, destination: Destination, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The format names to build and publish at `destination`; raise UserInputError on a bad option."""
        ...


@runtime_checkable
class FallsBack(Protocol):
    """A registry that publishes elsewhere when its service does not answer (Ollama: an Ollama-ready folder)."""

    def fallback_location(self, destination: Destination, name: str, fmt: str) -> str:
        """Where the artifact `fmt` of `name` goes when the service at `destination` does not answer."""
        ...
