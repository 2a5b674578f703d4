"""Registry `dir:PATH`: PATH/<name>/<format>/ with the artifact files, README.md and manifest.json.

Each artifact folder is assembled under a hidden temporary name beside its final place and
renamed only when complete, so a reader never sees a half-written artifact. Files are hard-linked
from the workspace when both sit on one filesystem (no copy of a 100 GB merge), else copied.
A publish holds `<name>/` through the lock file `PATH/.<name>.lock` (the `filelock` library: flock on
Linux and macOS, msvcrt on Windows; released by the operating system even when the process is killed)
and first removes the temporary folders a killed publish left there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from filelock import FileLock

from hubship.domain.destination import Destination
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.manifest import CARD_NAME, MANIFEST_NAME, Manifest
from hubship.domain.publication import Delivery, Publication
from hubship.ports.progress import Progress

_LEFTOVER = re.compile(r"^\.[^/]+\.(tmp|old)-")


@contextlib.contextmanager
def _held(root: Path, name: str) -> Iterator[None]:
    """Exclusive use of `root/name` by this process; leftovers of killed publishes there are removed first."""
    folder = root / name
    with FileLock(root / f".{name}.lock"):  # another publish to this folder takes seconds: wait for it
        for entry in folder.iterdir():
            if _LEFTOVER.match(entry.name):
                shutil.rmtree(entry, ignore_errors=True)
        yield


def _place(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


class LocalDirRegistry:
    scheme = "dir"

    def _root(self, destination: Destination) -> Path:
        return Path(destination.target).expanduser()

    def locate(self, destination: Destination, name: str, fmt: str) -> str:
        return str(self._root(destination) / name / fmt)

    def is_published(self, destination: Destination, name: str, fmt: str, key: str) -> bool:
        manifest = Path(self.locate(destination, name, fmt)) / MANIFEST_NAME
        try:
            return Manifest.from_json(manifest.read_text(encoding="utf-8")).publishes(name, key)
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def check(self, destination: Destination) -> None:
        root = self._root(destination)
        probe = root
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise UserInputError(f"destination {destination} is a file, not a folder; pass --to dir: with a folder path")
        if probe.exists() and not os.access(probe, os.W_OK):
            raise UserInputError(f"destination {destination} is not writable; pass --to dir: with a folder you can write")

    def _publish_one(self, root: Path, pub: Publication, task: object) -> str:
        final = root / pub.name / pub.format
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{pub.format}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            source = Path(pub.source_dir)
            for entry in pub.manifest.files:
                if entry.path == CARD_NAME:
                    continue
                dst = tmp / entry.path
                dst.parent.mkdir(parents=True, exist_ok=True)
                _place(source / entry.path, dst)
                task.advance(entry.size)  # type: ignore[attr-defined]
            (tmp / CARD_NAME).write_text(pub.card, encoding="utf-8")
            (tmp / MANIFEST_NAME).write_text(pub.manifest.to_json(), encoding="utf-8")
            old = None
            if final.exists():
                old = final.parent / f".{pub.format}.old-{uuid.uuid4().hex[:8]}"
                os.replace(final, old)
            os.replace(tmp, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return str(final)

    def publish(self, destination: Destination, publications: Sequence[Publication], progress: Progress) -> list[Delivery]:
        root = self._root(destination)
        total = sum(e.size for p in publications for e in p.manifest.files)
        try:
            root.mkdir(parents=True, exist_ok=True)
            with progress.task(f"publish to {destination}", total=total, unit="bytes") as task, contextlib.ExitStack() as held:
                for name in sorted({pub.name for pub in publications}):
                    (root / name).mkdir(exist_ok=True)
                    held.enter_context(_held(root, name))
                return [Delivery(location=self._publish_one(root, pub, task)) for pub in publications]
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise PublishError(f"destination {destination} ran out of disk space; nothing was left half-written there") from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise UserInputError(f"destination {destination} is not writable; pass --to dir: with a folder you can write") from None
            raise PublishError(f"publishing to {destination} failed: {exc.strerror or exc}") from None
