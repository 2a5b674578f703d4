"""One artifact ready to publish (its built files, card and manifest), and what became of it at a destination."""

from __future__ import annotations

import attrs

from hubship.domain.manifest import Manifest

PUBLISHED = "published"
UP_TO_DATE = "up to date"
READY_NO_SERVER = "ready, no server"


@attrs.frozen(kw_only=True)
class Publication:
    name: str
    format: str
    source_dir: str
    card: str
    manifest: Manifest
    relation: str


@attrs.frozen(kw_only=True)
class Delivery:
    """Where a registry put one publication and in what state: `published`, `up to date` (already there, nothing
    sent) or `ready, no server` (a folder ready for a server that did not answer; `command` finishes the job)."""

    location: str
    status: str = PUBLISHED
    command: str | None = None
