"""Use case: check a publication against its manifests: a local folder by re-hashing every file, a Hub repo
(`hf:OWNER/NAME[@REVISION]`) from its file listing (sizes and LFS sha256; small regular files are read and
hashed), without downloading weights. Every `manifest.json` and `<format>.manifest.json` found is checked."""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import Path

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.hub_layout import parse_hub_ref
from hubship.domain.hub_sync import RemoteTree
from hubship.domain.manifest import MANIFEST_NAME, FileEntry, Manifest, compare_files
from hubship.ports.file_hasher import FileHasher
from hubship.ports.progress import Progress
from hubship.ports.remote_repo import RemoteRepo

HUB_PREFIX = "hf:"


@attrs.frozen(kw_only=True)
class VerifyRequest:
    """`path`: a published folder, or `hf:OWNER/NAME[@REVISION]`."""

    path: str


@attrs.frozen(kw_only=True)
class VerifyReport:
    path: str
    checked: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def is_manifest(path: str) -> bool:
    """`manifest.json`, or `<format>.manifest.json` where several formats share a folder (e.g. a GGUF repo)."""
    name = posixpath.basename(path)
    return name == MANIFEST_NAME or name.endswith(f".{MANIFEST_NAME}")


def _parse(text: str, where: str) -> Manifest | str:
    """The manifest, or the problem with it as a sentence."""
    try:
        return Manifest.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        return f"{where}: unreadable manifest ({exc})"


class VerifyPublication:
    def __init__(self, hasher: FileHasher, progress: Progress, remote: RemoteRepo | None = None) -> None:
        self._hasher = hasher
        self._progress = progress
        self._remote = remote

    def execute(self, request: VerifyRequest) -> VerifyReport:
        if request.path.startswith(HUB_PREFIX):
            return self._verify_hub(request.path)
        return self._verify_folder(Path(request.path))

    def _verify_folder(self, root: Path) -> VerifyReport:
        if not root.is_dir():
            raise UserInputError(f"{root} is not a folder; pass a folder that hubship published, or hf:OWNER/NAME")
        found = sorted(p for p in root.rglob("*manifest.json") if p.is_file() and is_manifest(p.name))
        if not found:
            raise UserInputError(f"{root} holds no {MANIFEST_NAME}; pass a folder that hubship published")
        checked: list[str] = []
        problems: list[str] = []
        for path in found:
            manifest = _parse(path.read_text(), str(path))
            if isinstance(manifest, str):
                problems.append(manifest)
                continue
            folder = path.parent
            actual = {}
            with self._progress.task(f"verify {folder.name}", total=len(manifest.files), unit="files") as task:
                for entry in manifest.files:
                    if (folder / entry.path).is_file():
                        actual[entry.path] = self._hasher.hash_file(folder / entry.path, cached=False)
                    task.advance()
            problems += [f"{folder.name}/{p}" for p in compare_files(manifest.files, actual)]
            checked.append(str(path if path.name != MANIFEST_NAME else folder))
        return VerifyReport(path=str(root), checked=tuple(checked), problems=tuple(problems))

    def _verify_hub(self, text: str) -> VerifyReport:
        if self._remote is None:
            raise UserInputError("this installation cannot read the Hub; verify a downloaded folder instead")
        remote = self._remote
        repo_id, revision = parse_hub_ref(text)
        tree = remote.tree(repo_id, revision)
        found = sorted(p for p in tree.files if is_manifest(p))
        if not found:
            raise UserInputError(f"hf:{repo_id}@{revision} holds no {MANIFEST_NAME}; pass a repo that hubship published")
        checked: list[str] = []
        problems: list[str] = []
        with self._progress.task(f"verify hf:{repo_id}", total=len(found), unit="manifests") as task:
            for path in found:
                manifest = _parse((remote.read(repo_id, path, tree.head) or b"").decode(errors="replace"), f"{repo_id}/{path}")
                if isinstance(manifest, str):
                    problems.append(manifest)
                else:
                    folder = posixpath.dirname(path)
                    actual = _remote_entries(remote, repo_id, tree, folder, manifest)
                    where = f"{repo_id}/{folder + '/' if folder else ''}"
                    label = "" if posixpath.basename(path) == MANIFEST_NAME else f" ({posixpath.basename(path)})"
                    problems += [f"{where}{p}{label}" for p in compare_files(manifest.files, actual)]
                    checked.append(f"hf:{repo_id}@{tree.head[:12]}/{path}")
                task.advance()
        return VerifyReport(path=text, checked=tuple(checked), problems=tuple(problems))


def _remote_entries(remote: RemoteRepo, repo_id: str, tree: RemoteTree, folder: str, manifest: Manifest) -> dict[str, FileEntry]:
    """What the repo holds for each manifest entry: an LFS file's listed sha256; a regular file's, read and hashed."""
    actual = {}
    for entry in manifest.files:
        listed = tree.files.get(posixpath.join(folder, entry.path))
        if listed is None:
            continue
        if listed.lfs_sha256 is not None or listed.size != entry.size:
            actual[entry.path] = FileEntry(entry.path, listed.size, listed.lfs_sha256 or "")
        else:  # a small regular file: the Hub lists its git oid, not its sha256
            data = remote.read(repo_id, posixpath.join(folder, entry.path), tree.head) or b""
            actual[entry.path] = FileEntry(entry.path, len(data), hashlib.sha256(data).hexdigest())
    return actual
