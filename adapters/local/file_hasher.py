"""FileHasher with sha256, caching digests by (path, size, mtime, inode) in a JSON file.

A base model of hundreds of GB is read once; later plans only stat it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from hubship.domain.manifest import WRITTEN_HASHES, FileEntry, stat_stamp
from hubship.ports.progress import Progress

CHUNK = 8 * 1024 * 1024
SKIP = ("README.md", "manifest.json")


class Sha256FileHasher:
    def __init__(self, cache_file: Path | None = None) -> None:
        self._cache_file = cache_file
        self._cache: dict[str, list[object]] | None = None
        self._lock = threading.RLock()  # files may be hashed from several threads

    def _load(self) -> dict[str, list[object]]:
        with self._lock:
            if self._cache is None:
                cache: dict[str, list[object]] = {}
                if self._cache_file and self._cache_file.is_file():
                    try:
                        cache = json.loads(self._cache_file.read_text())
                    except (OSError, json.JSONDecodeError):
                        cache = {}
                self._cache = cache
            return self._cache

    def _save(self) -> None:
        if not self._cache_file or self._cache is None:
            return
        tmp = self._cache_file.with_name(f".{self._cache_file.name}.{os.getpid()}.tmp")
        try:
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self._cache))
            os.replace(tmp, self._cache_file)
        except OSError:  # the cache only saves time; a read-only or full disk must not fail a publish
            tmp.unlink(missing_ok=True)

    def lookup(self, path: Path) -> FileEntry | None:
        return self._cached(path, path.stat(), str(path.resolve()))

    def _cached(self, path: Path, stat: os.stat_result, ident: str) -> FileEntry | None:
        hit = self._load().get(ident)
        if hit and hit[:3] == stat_stamp(stat):
            return FileEntry(path.name, stat.st_size, str(hit[3]))
        return None

    def hash_file(self, path: Path, *, cached: bool = True) -> FileEntry:
        stat, ident = path.stat(), str(path.resolve())
        if cached and (hit := self._cached(path, stat, ident)) is not None:
            return hit
        stamp = stat_stamp(stat)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        entry = FileEntry(path.name, stat.st_size, digest.hexdigest())
        if cached and self._cache_file:
            with self._lock:
                self._load()[ident] = [*stamp, entry.sha256]
                self._save()
        return entry

    def hash_tree(self, root: Path, progress: Progress | None = None) -> tuple[FileEntry, ...]:
        """Every file under `root` (hidden ones and SKIP left out); a digest its writer recorded (WRITTEN_HASHES)
        counts while the file's stat still matches it, so a just-written merge is not read back to be hashed."""
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in SKIP and not p.name.startswith("."))
        written = _written(root)

        def entry(p: Path) -> FileEntry:
            stat, known = p.stat(), written.get(p.relative_to(root).as_posix())
            if known and known[:3] == stat_stamp(stat):
                return FileEntry(p.name, stat.st_size, str(known[3]))
            return self.hash_file(p)

        if progress is None:
            return tuple(self._rel(root, p, entry(p)) for p in files)
        entries = []
        with progress.task(f"hash {root.name[:12]}", total=sum(p.stat().st_size for p in files), unit="bytes") as task:
            for p in files:
                entries.append(self._rel(root, p, entry(p)))
                task.advance(entries[-1].size)
        return tuple(entries)

    @staticmethod
    def _rel(root: Path, path: Path, entry: FileEntry) -> FileEntry:
        return FileEntry(path.relative_to(root).as_posix(), entry.size, entry.sha256)


def _written(root: Path) -> dict[str, list[object]]:
    """The folder's WRITTEN_HASHES ({} when absent or unreadable: every file is then hashed by reading it)."""
    try:
        found = json.loads((root / WRITTEN_HASHES).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
