"""Use case: re-hash every file of a published artifact folder and compare it with its manifest."""

from __future__ import annotations

from pathlib import Path

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.manifest import MANIFEST_NAME, Manifest, compare_files
from hubship.ports.file_hasher import FileHasher
from hubship.ports.progress import Progress


@attrs.frozen(kw_only=True)
class VerifyRequest:
    path: str


@attrs.frozen(kw_only=True)
class VerifyReport:
    path: str
    checked: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class VerifyPublication:
    def __init__(self, hasher: FileHasher, progress: Progress) -> None:
        self._hasher = hasher
        self._progress = progress

    def _folders(self, root: Path) -> list[Path]:
        if (root / MANIFEST_NAME).is_file():
            return [root]
        found = sorted(p.parent for p in root.rglob(MANIFEST_NAME))
        if not found:
            raise UserInputError(f"{root} holds no {MANIFEST_NAME}; pass a folder that hubship published")
        return found

    def execute(self, request: VerifyRequest) -> VerifyReport:
        root = Path(request.path)
        if not root.is_dir():
            raise UserInputError(f"{root} is not a folder; pass a folder that hubship published")
        checked: list[str] = []
        problems: list[str] = []
        for folder in self._folders(root):
            try:
                manifest = Manifest.from_json((folder / MANIFEST_NAME).read_text())
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{folder / MANIFEST_NAME}: unreadable manifest ({exc})")
                continue
            actual = {}
            with self._progress.task(f"verify {folder.name}", total=len(manifest.files), unit="files") as task:
                for entry in manifest.files:
                    path = folder / entry.path
                    if path.is_file():
                        actual[entry.path] = self._hasher.hash_file(path, cached=False)
                    task.advance()
            problems += [f"{folder.name}/{p}" for p in compare_files(manifest.files, actual)]
            checked.append(str(folder))
        return VerifyReport(path=str(root), checked=tuple(checked), problems=tuple(problems))
