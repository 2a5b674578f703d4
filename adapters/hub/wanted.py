"""What a repo must hold after a publish: every artifact file, its manifest and card, and what earlier publishes left.

Each file is known by path, size, sha256 and (for regular files) git oid, so it can be compared with the
remote tree without reading it back. Two artifacts putting different files at one path is a PublishError.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import attrs

from hubship.adapters.hub.cards import is_user_readme, merge_cards
from hubship.adapters.hub.job import RepoJob
from hubship.adapters.hub.remote import RemoteTree, read_manifest
from hubship.domain.errors import PublishError
from hubship.domain.hub_layout import SINGLE, HubTarget, card_path, manifest_path, root_copy, shares_folder
from hubship.domain.hub_root import is_root_manifest, kept_root_copies, root_manifest
from hubship.domain.hub_sync import REGULAR_MAX_BYTES, WantedFile, git_blob_oid
from hubship.domain.manifest import CARD_NAME, MANIFEST_NAME, FileEntry
from hubship.domain.publication import Publication


@attrs.frozen(kw_only=True)
class Wanted:
    """A file to put in the repo, from a local `source` file or from `data` in memory."""

    file: WantedFile
    source: Path | None = None
    data: bytes | None = None


def wanted_files(job: RepoJob, remote: RemoteTree) -> tuple[list[Wanted], list[WantedFile]]:
    """Every file the repo must hold after the commit, and the files earlier publishes left that may go."""
    opts, repo_id = job.opts, job.repo_id
    wanted: dict[str, Wanted] = {}
    stale: list[WantedFile] = []
    folders: dict[HubTarget, list[Publication]] = {}
    at_root: list[FileEntry] = []  # the single layout's root files, which no folder's manifest lists
    copied_from: dict[str, str] = {}
    for pub, target in job.items:
        folders.setdefault(target, []).append(pub)
    if opts.layout == SINGLE:  # the repo root gets an index card over every folder
        folders.setdefault(HubTarget(repo_id), [])
    for target, pubs in folders.items():
        cards = [p.card for p in pubs] or [p.card for p, _ in job.items]
        card = merge_cards(cards).encode()
        user_readme = is_user_readme(job.hub, repo_id, remote, target.path(CARD_NAME), card)
        card_at = card_path(target, user_readme, opts.overwrite_card)
        if user_readme and not opts.overwrite_card:
            job.notify(f"{repo_id}: kept the README.md someone else wrote; the card is in {card_at} (pass --overwrite-card to replace it)")
        _add(wanted, _wanted_bytes(card_at, card))
        card_entry = FileEntry(card_at[len(target.folder) + 1 :] if target.folder else card_at, len(card), _sha256(card))
        at_root += [] if target.folder else [card_entry]
        for pub in pubs:
            sharing = shares_folder(target, job.destination.target, opts)
            m_path = manifest_path(target, pub.format, sharing)
            files = tuple(e for e in pub.manifest.files if e.path != CARD_NAME)
            manifest = attrs.evolve(pub.manifest, files=(*files, card_entry))
            _add(wanted, _wanted_bytes(m_path, manifest.to_json().encode()))
            for entry in files:
                _add(wanted, _wanted_file(target.path(entry.path), entry, Path(pub.source_dir) / entry.path))
                if (root := root_copy(target, pub.format, entry.path)) is not None:  # where the Hub reads it
                    _add(wanted, _wanted_file(root, entry, Path(pub.source_dir) / entry.path))
                    at_root.append(attrs.evolve(entry, path=root))
                    copied_from[pub.format] = pub.manifest.key
            if m_path in remote.files:
                stale += _previous_files(job, remote.head, target, m_path)
    if opts.layout == SINGLE:
        stale += _root_manifest(job, remote, wanted, at_root, copied_from)
    return list(wanted.values()), stale


def _root_manifest(
    job: RepoJob, remote: RemoteTree, wanted: dict[str, Wanted], at_root: list[FileEntry], copied_from: dict[str, str]
) -> list[WantedFile]:
    """Add the single layout's root manifest to `wanted` (domain/hub_root.py); the files the previous one listed that
    this publish no longer puts there (deleted if still as hubship left them)."""
    previous = read_manifest(job.hub, job.repo_id, MANIFEST_NAME, remote.head) if MANIFEST_NAME in remote.files else None
    kept, kept_from = kept_root_copies(previous, any(p.format.startswith("gguf") for p, _ in job.items))
    manifest = root_manifest(job.items[0][0].name, (*at_root, *kept), {**kept_from, **copied_from})
    _add(wanted, _wanted_bytes(MANIFEST_NAME, manifest.to_json().encode()))
    if previous is None or not is_root_manifest(previous):
        return []
    return [WantedFile(path=e.path, size=e.size, sha256=e.sha256) for e in previous.files if e not in kept]


def _previous_files(job: RepoJob, head: str, target: HubTarget, m_path: str) -> list[WantedFile]:
    """What the publish that left `m_path` put in this folder."""
    old = read_manifest(job.hub, job.repo_id, m_path, head)
    if old is None:
        return []
    return [WantedFile(path=target.path(e.path), size=e.size, sha256=e.sha256) for e in old.files]


def _add(wanted: dict[str, Wanted], item: Wanted) -> None:
    found = wanted.get(item.file.path)
    if found is not None and found.file.sha256 != item.file.sha256:
        raise PublishError(f"two artifacts of this publish put different files at {item.file.path}; publish them with --repo-layout single")
    wanted[item.file.path] = item


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wanted_bytes(path: str, data: bytes) -> Wanted:
    return Wanted(file=WantedFile(path=path, size=len(data), sha256=_sha256(data), git_oid=git_blob_oid(data)), data=data)


def _wanted_file(path: str, entry: FileEntry, source: Path) -> Wanted:
    oid = git_blob_oid(source.read_bytes()) if entry.size < REGULAR_MAX_BYTES else None
    return Wanted(file=WantedFile(path=path, size=entry.size, sha256=entry.sha256, git_oid=oid), source=source)
