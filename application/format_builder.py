"""The contract a format implements, and what it is given to build with.

A format is one class with a `format` description and four methods; registering it under the
entry-point group `hubship.formats` is all it takes to make `--format NAME` work.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import attrs

from hubship.domain.checkpoint import BaseInfo, Checkpoint
from hubship.domain.formats import Format
from hubship.domain.plan import Estimate
from hubship.ports.progress import Progress


@attrs.frozen(kw_only=True)
class BuildContext:
    """Everything a build step may use. `inputs` maps each `builds_from` format to its built folder."""

    checkpoint: Checkpoint
    base: BaseInfo
    params: Mapping[str, Any]
    inputs: Mapping[str, Path]
    out_dir: Path
    progress: Progress
    services: Mapping[str, Any]

    def service(self, name: str) -> Any:
        """A port implementation by name (e.g. "merger"), as wired by the container."""
        return self.services[name]


class FormatBuilder(Protocol):
    """Builds one format. Pure description + one build step; no knowledge of destinations."""

    format: Format

    def params(self, options: Mapping[str, Any], base: BaseInfo) -> dict[str, Any]:
        """The options that change this format's output (they go into its content key)."""
        ...

    def check(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> None:
        """Preflight at plan time, in seconds: raise UserInputError if this cannot be built.

        A builder may also define `preflight(checkpoint, base, params, services)`: a check that needs
        a port (e.g. a converter's dry run). The plan runs it after every format's `check` passed,
        before hashing inputs or building anything. And `inputs_for(options)`: the formats it is built
        from under these options, when they depend on options (default `format.builds_from`).
        """
        ...

    def estimate(self, checkpoint: Checkpoint, base: BaseInfo, params: Mapping[str, Any]) -> Estimate: ...

    def build(self, ctx: BuildContext) -> None: ...

    def usage(self, repo_or_path: str) -> str:
        """A usage snippet for the card. A builder may also define `usage_for(location, files, scheme)`: the
        snippet naming the artifact's real files (their paths) at a destination of that scheme; cards prefer it."""
        ...
