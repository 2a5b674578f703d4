"""One artifact ready to publish: its built files, its card text and its manifest."""

from __future__ import annotations

import attrs

from hubship.domain.manifest import Manifest


@attrs.frozen(kw_only=True)
class Publication:
    name: str
    format: str
    source_dir: str
    card: str
    manifest: Manifest
    relation: str
