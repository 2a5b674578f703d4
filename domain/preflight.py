"""Plan-time resource checks: will the artifacts fit on each disk, and will their paths work on this OS?

Pure: the caller measures (through a system probe) and passes the figures in.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from hubship.domain.errors import UserInputError

WINDOWS_MAX_PATH = 260
LONGEST_FILE_NAME = 64  # a shard or temp name inside an artifact folder, e.g. model-00001-of-00042.safetensors


@attrs.frozen(kw_only=True)
class DiskDemand:
    """Bytes a place (workspace or destination) needs on the volume holding it."""

    place: str
    volume: str
    free_bytes: int
    needed_bytes: int
    fix: str


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def check_disk(demands: Iterable[DiskDemand]) -> None:
    """Raise UserInputError when the demands on one volume together exceed its free space."""
    by_volume: dict[str, list[DiskDemand]] = {}
    for demand in demands:
        by_volume.setdefault(demand.volume, []).append(demand)
    for group in by_volume.values():
        needed = sum(d.needed_bytes for d in group)
        free = min(d.free_bytes for d in group)
        if needed > free:
            heavy = [d for d in group if d.needed_bytes]
            places = " and ".join(d.place for d in heavy) + (" (one disk)" if len(heavy) > 1 else "")
            raise UserInputError(f"the plan needs {_gb(needed)} in {places} but only {_gb(free)} are free; {heavy[0].fix}")


def check_path_length(folder: str, *, os_name: str, long_paths: bool, fix: str) -> None:
    """On Windows without long-path support, files under `folder` must stay under 260 characters."""
    if os_name != "windows" or long_paths:
        return
    length = len(folder) + 1 + LONGEST_FILE_NAME
    if length >= WINDOWS_MAX_PATH:
        raise UserInputError(
            f"{folder} is too deep for Windows: its files' paths reach about {length} characters (limit {WINDOWS_MAX_PATH});"
            f" enable long paths (LongPathsEnabled) or {fix}"
        )
