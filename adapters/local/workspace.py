"""Workspace in a local folder: `artifacts/<key>/` appear by atomic rename from `tmp/`; one publish per source at a time.

The lock is `locks/<name>.lock`, held through the `filelock` library: flock on Linux and macOS, msvcrt on
Windows; the operating system releases it when the holder dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from hubship.domain.errors import PublishError, UserInputError

POLL_SECONDS = 0.5


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalDirWorkspace:
    def __init__(self, root: Path, wait_seconds: float = 0.0) -> None:
        self._root = Path(root).expanduser()
        self._wait = wait_seconds

    @property
    def root(self) -> Path:
        return self._root

    def prepare(self) -> None:
        try:
            for sub in ("artifacts", "tmp", "locks"):
                (self._root / sub).mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise UserInputError(f"workspace {self._root} is a file, not a folder; pass --workspace with a folder") from None
        except PermissionError:
            raise UserInputError(f"workspace {self._root} is not writable; pass --workspace with a folder you can write") from None
        except OSError as exc:  # a read-only filesystem, a parent that cannot hold folders (/proc)...
            raise UserInputError(
                f"workspace {self._root} cannot be created ({exc.strerror or exc}); pass --workspace with a folder you can write"
            ) from None
        if not os.access(self._root, os.W_OK):
            raise UserInputError(f"workspace {self._root} is not writable; pass --workspace with a folder you can write")

    def path(self, key: str) -> Path:
        return self._root / "artifacts" / key

    def has(self, key: str) -> bool:
        return (self.path(key) / ".complete").is_file()

    def _sweep(self) -> None:
        """Remove staging folders left by processes that died mid-build."""
        for tmp in (self._root / "tmp").iterdir():
            pid = tmp.name.rsplit("-", 2)[-2] if tmp.name.count("-") >= 2 else ""
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(tmp, ignore_errors=True)

    @contextlib.contextmanager
    def staging(self, key: str) -> Iterator[Path]:
        self.prepare()
        self._sweep()
        tmp = self._root / "tmp" / f"{key[:16]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            yield tmp
            (tmp / ".complete").write_text(key + "\n")
            target = self.path(key)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno == 28:
                raise PublishError(f"the workspace disk is full ({self._root}); free space or pass --workspace on a bigger disk") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold `name` for this process; another holder makes it wait `wait_seconds`, then a UserInputError."""
        self.prepare()
        held = FileLock(self._root / "locks" / f"{name}.lock")
        try:
            held.acquire(timeout=self._wait, poll_interval=POLL_SECONDS)
        except Timeout:
            raise UserInputError(
                f"another hubship publish of this checkpoint is running in workspace {self._root};"
                " wait for it to finish, or pass --workspace with another folder"
            ) from None
        try:
            yield
        finally:
            held.release()
