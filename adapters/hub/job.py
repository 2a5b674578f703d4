"""One repo of a publish: the publications that land in it, where, with which options, and how to reach and report."""

from __future__ import annotations

import attrs

from hubship.adapters.hub.session import HubSession
from hubship.domain.destination import Destination
from hubship.domain.hub_layout import HubOptions, HubTarget
from hubship.domain.publication import Publication
from hubship.ports.progress import Progress


@attrs.frozen(kw_only=True)
class RepoJob:
    """What every step of publishing to one repo needs; `items` pairs each publication with its folder there."""

    hub: HubSession
    destination: Destination
    repo_id: str
    items: list[tuple[Publication, HubTarget]]
    opts: HubOptions
    progress: Progress

    def notify(self, text: str) -> None:
        """Tell the user (a progress message)."""
        self.progress.message(text)
