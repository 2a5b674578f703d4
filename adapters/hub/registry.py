"""Registry `hf:OWNER/NAME`: the Hugging Face Hub, through huggingface_hub, one atomic commit per repo.

Contract, per repo of a publish (see docs/destinations-hub.md and docs/adr/005-hub-one-commit.md):
- nothing leaves the machine before every file is scanned: no pickle, no text holding a Hub token;
- the repo is created if needed (private with --private); an existing one is fine;
- the remote tree is compared with the manifests: files whose size and sha256 / LFS oid already match
  are not sent, and when nothing differs no commit is made;
- LFS objects are uploaded first (objects the server already holds are skipped, which is what makes a
  re-run after a dropped connection or a kill resume), then exactly one `create_commit`, with
  `parent_commit` so a concurrent writer makes it fail cleanly (412) instead of mixing commits;
- afterwards the remote tree is listed again and every size and hash checked against the manifest.
The token comes from --token-file, HF_TOKEN or the saved login, and appears in no message or log.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import attrs

from hubship.domain.destination import Destination
from hubship.domain.errors import HubshipError, PublishError, UserInputError, VerificationFailed
from hubship.domain.hub_layout import HubOptions, HubTarget, card_path, hub_options, hub_target, manifest_path, shares_folder
from hubship.domain.hub_sync import REGULAR_MAX_BYTES, RemoteFile, WantedFile, changes, git_blob_oid, mismatches
from hubship.domain.manifest import CARD_NAME, FileEntry, Manifest
from hubship.domain.publication import Publication
from hubship.domain.secrets import SNIFF_BYTES, count_hub_tokens, is_pickle, looks_like_text, pickle_refusal, token_refusal
from hubship.ports.progress import Progress, ProgressTask

T = TypeVar("T")
TRANSIENT = (429, 500, 502, 503, 504)
SCAN_CHUNK = 4 * 1024 * 1024


@attrs.frozen(kw_only=True)
class _Wanted:
    file: WantedFile
    source: Path | None = None
    data: bytes | None = None


@attrs.frozen(kw_only=True)
class _Remote:
    head: str
    files: dict[str, RemoteFile]


class _CountingReader(io.BufferedReader):
    """A file that reports every byte read (the upload stream) to a progress task."""

    def __init__(self, path: Path, task: ProgressTask) -> None:
        super().__init__(io.FileIO(str(path), "rb"), buffer_size=1 << 20)
        self._task = task

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._task.advance(len(data))
        return data


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _is_network(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    return isinstance(exc, ConnectionError | TimeoutError) or bool(
        names & {"TransportError", "NetworkError", "RemoteProtocolError", "TimeoutException", "ConnectionError", "Timeout"}
    )


def _root_cause(exc: BaseException) -> BaseException:
    """The HTTP or network error under library wrappers (e.g. "Error while uploading X")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _status(current) is not None or _is_network(current):
            return current
        current = current.__cause__ or current.__context__
    return exc


def _server_message(exc: BaseException) -> str:
    text = getattr(exc, "server_message", None) or ""
    return " ".join(str(text).split())[:200]


class HfHubRegistry:
    scheme = "hf"

    def __init__(
        self, endpoint: str | None = None, attempts: int = 5, backoff_seconds: float = 1.0, max_wait_seconds: float = 30.0
    ) -> None:
        self._endpoint_override = endpoint
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        self._max_wait = max_wait_seconds

    # ---- the Registry port ----------------------------------------------------------------
    def locate(self, destination: Destination, name: str, fmt: str) -> str:
        return hub_target(destination.target, fmt, hub_options(destination.options)).location

    def check(self, destination: Destination) -> None:
        opts = hub_options(destination.options)
        api = self._api(opts)
        who = self._call(lambda: api.whoami(), destination.target, "checking the token", retry_network=False)
        role = (who.get("auth") or {}).get("accessToken", {}).get("role")
        if role == "read":
            raise UserInputError("the token is read-only; create a token with write access (huggingface.co/settings/tokens) and use it")
        owner = destination.target.split("/")[0]
        mine = {who.get("name"), *(o.get("name") for o in who.get("orgs") or [])}
        if owner not in mine:
            self._owner_refusal(api, owner, str(who.get("name")), destination.target)

    def is_published(self, destination: Destination, name: str, fmt: str, key: str) -> bool:
        opts = hub_options(destination.options)
        target = hub_target(destination.target, fmt, opts)
        api = self._api(opts)
        remote = self._remote(api, target.repo_id, opts.revision, missing_ok=True)
        path = manifest_path(target, fmt, shares_folder(target, destination.target, opts))
        if remote is None or path not in remote.files:
            return False
        text = self._read(api, target.repo_id, path, remote.head)
        try:
            manifest = Manifest.from_json(text.decode()) if text else None
        except (ValueError, KeyError, TypeError):
            return False
        if manifest is None or manifest.key != key:
            return False
        for entry in manifest.files:  # complete: every file there, with its size (and LFS hash)
            found = remote.files.get(target.path(entry.path))
            if found is None or found.size != entry.size or found.lfs_sha256 not in (None, entry.sha256):
                return False
        return True

    def publish(self, destination: Destination, publications: Sequence[Publication], progress: Progress) -> list[str]:
        opts = hub_options(destination.options)
        for pub in publications:
            _scan(pub)
        api = self._api(opts)
        groups: dict[str, list[tuple[Publication, HubTarget]]] = {}
        for pub in publications:
            target = hub_target(destination.target, pub.format, opts)
            groups.setdefault(target.repo_id, []).append((pub, target))
        return [self._publish_repo(api, destination, repo_id, items, opts, progress) for repo_id, items in sorted(groups.items())]

    # ---- one repo, one commit -------------------------------------------------------------
    def _publish_repo(
        self,
        api: Any,
        destination: Destination,
        repo_id: str,
        items: list[tuple[Publication, HubTarget]],
        opts: HubOptions,
        progress: Progress,
    ) -> str:
        notify = progress.message
        self._call(lambda: api.create_repo(repo_id, private=opts.private or None, exist_ok=True), repo_id, "creating the repo", notify)
        branch = opts.revision
        if branch != "main" and not opts.create_pr and not branch.startswith("refs/pr/"):
            self._call(lambda: api.create_branch(repo_id, branch=branch, exist_ok=True), repo_id, f"creating branch {branch}", notify)
        remote = self._remote(api, repo_id, branch)
        assert remote is not None
        wanted, stale = self._wanted(api, destination, repo_id, items, opts, remote, notify)
        todo = changes([w.file for w in wanted], remote.files, stale)
        where = f"{repo_id}@{branch}"
        if todo.empty:
            notify(f"{where} already holds every file; no commit made")
            self._tag(api, repo_id, remote.head, opts, notify)
            return f"{repo_id} (up to date)"
        if opts.tag:
            self._check_tag_free(api, repo_id, opts.tag)
        send = [w for w in wanted if w.file in todo.send]
        total = sum(w.file.size for w in send)
        names = ", ".join(sorted({p.format for p, _ in items}))
        notify(f"{where}: sending {len(send)} changed file(s) ({total / 1e6:.1f} MB), deleting {len(todo.delete)}, in one commit")
        with contextlib.ExitStack() as stack:
            task = stack.enter_context(progress.task(f"upload to {repo_id}", total=total, unit="bytes"))
            additions = [self._addition(w, task, stack) for w in send]
            from huggingface_hub import CommitOperationDelete

            deletions = [CommitOperationDelete(path_in_repo=p) for p in todo.delete]
            through_xet = sum(w.file.size for w in send if w.source is not None) if _xet_in_use() else 0
            firsts = list({op.upload_info.sha256: op for op in reversed(additions)}.values())
            for batch in (firsts, [op for op in additions if op not in firsts]):  # one upload per content, then its copies
                self._call(
                    lambda batch=batch: api.preupload_lfs_files(
                        repo_id, additions=batch, revision=branch, create_pr=opts.create_pr, free_memory=False
                    ),
                    repo_id,
                    "uploading files",
                    notify,
                    retry=False,
                )
            task.advance(through_xet)  # Xet reads the files itself: the bar moves once they are up
            info = self._commit(api, repo_id, [*additions, *deletions], opts, remote.head, names, items, [w.file for w in wanted], notify)
        oid, pr_url = info
        self._verify(api, repo_id, oid, [w.file for w in wanted])
        notify(f"{where}: committed {oid[:12]}" + (f" as {pr_url}" if pr_url else ""))
        self._tag(api, repo_id, oid, opts, notify)
        return pr_url or repo_id

    def _wanted(
        self,
        api: Any,
        destination: Destination,
        repo_id: str,
        items: list[tuple[Publication, HubTarget]],
        opts: HubOptions,
        remote: _Remote,
        notify: Callable[[str], None],
    ) -> tuple[list[_Wanted], list[WantedFile]]:
        """Every file the repo must hold after the commit, and the files earlier publishes left that may go."""
        wanted: dict[str, _Wanted] = {}
        stale: list[WantedFile] = []
        folders: dict[HubTarget, list[Publication]] = {}
        for pub, target in items:
            folders.setdefault(target, []).append(pub)
        if opts.layout == "single":  # the repo root gets an index card over every folder
            folders.setdefault(HubTarget(repo_id), [])
        for target, pubs in folders.items():
            cards = [p.card for p in pubs] or [p.card for p, _ in items]
            card = _merge_cards(cards).encode()
            user_readme = self._user_readme(api, repo_id, remote, target.path(CARD_NAME), card)
            card_at = card_path(target, user_readme, opts.overwrite_card)
            if user_readme and not opts.overwrite_card:
                notify(f"{repo_id}: kept the README.md someone else wrote; the card is in {card_at} (pass --overwrite-card to replace it)")
            _add(wanted, _wanted_bytes(card_at, card))
            card_entry = FileEntry(card_at[len(target.folder) + 1 :] if target.folder else card_at, len(card), _sha256(card))
            for pub in pubs:
                sharing = shares_folder(target, destination.target, opts)
                m_path = manifest_path(target, pub.format, sharing)
                files = tuple(e for e in pub.manifest.files if e.path != CARD_NAME)
                manifest = attrs.evolve(pub.manifest, files=(*files, card_entry))
                _add(wanted, _wanted_bytes(m_path, manifest.to_json().encode()))
                for entry in files:
                    _add(wanted, _wanted_file(target.path(entry.path), entry, Path(pub.source_dir) / entry.path))
                if m_path in remote.files:
                    stale += self._previous_files(api, repo_id, remote.head, target, m_path)
        return list(wanted.values()), stale

    def _commit(
        self,
        api: Any,
        repo_id: str,
        operations: list[Any],
        opts: HubOptions,
        head: str,
        names: str,
        items: list[tuple[Publication, HubTarget]],
        wanted: list[WantedFile],
        notify: Callable[[str], None],
    ) -> tuple[str, str | None]:
        message = f"hubship: publish {items[0][0].name} ({names})"
        description = "\n".join(f"- {p.format}: content key {p.manifest.key}" for p, _ in items)
        try:
            info = self._call(
                lambda: api.create_commit(
                    repo_id,
                    operations,
                    commit_message=message,
                    commit_description=description,
                    revision=opts.revision,
                    create_pr=opts.create_pr,
                    parent_commit=head,
                ),
                repo_id,
                "committing",
                notify,
                explain=False,
            )
        except HubshipError:
            raise
        except Exception as exc:
            if _status(_root_cause(exc)) == 412 and not opts.create_pr:
                landed = self._landed(api, repo_id, opts.revision, head, wanted)
                if landed:  # an earlier attempt's commit went through and only its answer was lost
                    return landed, None
            raise self._explain(exc, repo_id, "committing", self._attempts) from None
        return info.oid, info.pr_url

    def _landed(self, api: Any, repo_id: str, branch: str, head: str, wanted: list[WantedFile]) -> str | None:
        now = self._remote(api, repo_id, branch)
        if now is None or now.head == head or mismatches(wanted, now.files):
            return None
        return now.head

    def _verify(self, api: Any, repo_id: str, oid: str, wanted: list[WantedFile]) -> None:
        remote = self._remote(api, repo_id, oid)
        problems = mismatches(wanted, remote.files if remote else {})
        if problems:
            raise VerificationFailed(
                f"after the commit {oid[:12]}, {len(problems)} file(s) on {repo_id} do not match the manifest"
                f" ({problems[0]}); re-run the publish to repair it"
            )

    def _tag(self, api: Any, repo_id: str, oid: str, opts: HubOptions, notify: Callable[[str], None]) -> None:
        if not opts.tag:
            return
        refs = self._call(lambda: api.list_repo_refs(repo_id), repo_id, "reading tags", notify)
        found = {t.name: t.target_commit for t in refs.tags}
        if found.get(opts.tag) == oid:
            return
        if opts.tag in found:
            raise UserInputError(f"tag {opts.tag} already exists in {repo_id} on another commit; pass another --tag")
        self._call(lambda: api.create_tag(repo_id, tag=opts.tag, revision=oid), repo_id, f"creating tag {opts.tag}", notify)
        notify(f"{repo_id}: tagged {oid[:12]} as {opts.tag}")

    def _check_tag_free(self, api: Any, repo_id: str, tag: str) -> None:
        refs = self._call(lambda: api.list_repo_refs(repo_id), repo_id, "reading tags")
        if any(t.name == tag for t in refs.tags):
            raise UserInputError(f"tag {tag} already exists in {repo_id}; pass another --tag (nothing was committed)")

    # ---- reading the remote ---------------------------------------------------------------
    def _remote(self, api: Any, repo_id: str, revision: str, missing_ok: bool = False) -> _Remote | None:
        from huggingface_hub.hf_api import RepoFile

        try:
            head = self._call(lambda: api.repo_info(repo_id, revision=revision).sha, repo_id, "reading the repo", explain=False)
            entries = self._call(
                lambda: list(api.list_repo_tree(repo_id, recursive=True, revision=head)), repo_id, "listing files", explain=False
            )
        except Exception as exc:
            if missing_ok and _status(_root_cause(exc)) in (401, 404):
                return None
            raise self._explain(exc, repo_id, "reading the repo") from None
        files = {
            e.path: RemoteFile(path=e.path, size=e.size, git_oid=e.blob_id, lfs_sha256=e.lfs.sha256 if e.lfs else None)
            for e in entries
            if isinstance(e, RepoFile)
        }
        return _Remote(head=head, files=files)

    def _read(self, api: Any, repo_id: str, path: str, revision: str) -> bytes | None:
        with tempfile.TemporaryDirectory(prefix="hubship-hf-") as tmp:
            try:
                local = self._call(
                    lambda: api.hf_hub_download(repo_id, path, revision=revision, cache_dir=tmp), repo_id, f"reading {path}", explain=False
                )
            except Exception as exc:
                if _status(_root_cause(exc)) == 404:
                    return None
                raise self._explain(exc, repo_id, f"reading {path}") from None
            return Path(local).read_bytes()

    def _user_readme(self, api: Any, repo_id: str, remote: _Remote, path: str, card: bytes) -> bool:
        """Whether `path` holds a README that hubship did not write."""
        found = remote.files.get(path)
        if found is None or found.git_oid == git_blob_oid(card):
            return False
        text = (self._read(api, repo_id, path, remote.head) or b"").decode(errors="replace")
        from huggingface_hub import ModelCard

        try:
            return "hubship" not in (ModelCard(text).data.tags or [])
        except Exception:
            return True

    def _previous_files(self, api: Any, repo_id: str, head: str, target: HubTarget, m_path: str) -> list[WantedFile]:
        """What the publish that left `m_path` put in this folder."""
        try:
            old = Manifest.from_json((self._read(api, repo_id, m_path, head) or b"").decode())
        except (ValueError, KeyError, TypeError):
            return []
        return [WantedFile(path=target.path(e.path), size=e.size, sha256=e.sha256) for e in old.files]

    # ---- plumbing -------------------------------------------------------------------------
    def _endpoint(self) -> str:
        from huggingface_hub import constants

        return (self._endpoint_override or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")

    def _api(self, opts: HubOptions) -> Any:
        from huggingface_hub import HfApi, constants, get_token

        offline = constants.is_offline_mode() if hasattr(constants, "is_offline_mode") else constants.HF_HUB_OFFLINE
        if offline:
            raise UserInputError("HF_HUB_OFFLINE is set, so nothing can reach the Hub; unset HF_HUB_OFFLINE to publish to hf:")
        if opts.token_file:
            path = Path(opts.token_file).expanduser()
            try:
                token = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise UserInputError(
                    f"cannot read the token file {path} ({getattr(exc, 'strerror', None) or exc.__class__.__name__});"
                    " pass --token-file with a readable file"
                ) from None
            if not token:
                raise UserInputError(f"the token file {path} is empty; put the token in it or use HF_TOKEN")
        else:
            token = get_token()
        if not token:
            raise UserInputError("no Hub token found; set HF_TOKEN, log in with `hf auth login`, or pass --token-file FILE")
        return HfApi(endpoint=self._endpoint(), token=token)

    def _owner_refusal(self, api: Any, owner: str, user: str, target: str) -> None:
        for lookup in (api.get_user_overview, api.get_organization_overview):
            try:
                self._call(lambda lookup=lookup: lookup(owner), target, "looking up the owner", explain=False)
                raise UserInputError(
                    f"the token's account {user} cannot write to {owner} (HTTP 403: neither {user} nor one of its organizations);"
                    f" publish to hf:{user}/NAME, or use a token with write access to {owner}"
                )
            except HubshipError:
                raise
            except Exception as exc:
                if _status(_root_cause(exc)) != 404:
                    raise self._explain(exc, target, "looking up the owner") from None
        raise UserInputError(f"the owner {owner} does not exist on the Hub (HTTP 404); check OWNER in hf:{target}")

    def _call(
        self,
        call: Callable[[], T],
        repo_id: str,
        doing: str,
        notify: Callable[[str], None] | None = None,
        *,
        retry: bool = True,
        retry_network: bool = True,
        explain: bool = True,
    ) -> T:
        """Run one Hub call; retry 429/5xx (and network errors) with backoff honouring Retry-After, then explain."""
        attempts = self._attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except HubshipError:
                raise
            except Exception as exc:
                cause = _root_cause(exc)
                status = _status(cause)
                transient = status in TRANSIENT or (retry_network and status is None and _is_network(cause))
                if not transient or attempt == attempts:
                    if explain:
                        raise self._explain(exc, repo_id, doing, attempt) from None
                    raise
                wait = self._wait(cause, attempt)
                if notify is not None:
                    notify(
                        f"{repo_id}: {doing} failed ({f'HTTP {status}' if status else 'network error'});"
                        f" retry {attempt}/{attempts - 1} in {wait:.0f}s"
                    )
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, exc: BaseException, attempt: int) -> float:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            try:
                return min(float(retry_after), self._max_wait)
            except ValueError:
                pass
        return min(self._backoff * 2 ** (attempt - 1), self._max_wait)

    def _explain(self, exc: BaseException, repo_id: str, doing: str, attempts: int = 1) -> HubshipError:
        """One line naming the cause and the fix. Never includes the token."""
        cause = _root_cause(exc)
        status = _status(cause)
        owner = repo_id.split("/")[0]
        said = _server_message(cause)
        said = f": {said}" if said else ""
        if status is None and _is_network(cause):
            return PublishError(
                f"cannot reach the Hub at {self._endpoint()} while {doing} ({type(cause).__name__}); check the network"
                " connection or HF_ENDPOINT, then re-run (uploads already finished are not sent again)"
            )
        if status == 401:
            return UserInputError(
                "the Hub rejected the token (HTTP 401: invalid or expired); set HF_TOKEN, run `hf auth login`, or pass --token-file"
            )
        if status == 403:
            return UserInputError(f"the token has no write access to {repo_id} (HTTP 403{said}); use a token with write access to {owner}")
        if status == 404:
            return UserInputError(
                f"{repo_id} or its owner {owner} was not found on the Hub while {doing} (HTTP 404{said});"
                " check hf:OWNER/NAME and --revision"
            )
        if status == 409:
            return PublishError(
                f"the Hub reported a conflict on {repo_id} while {doing} (HTTP 409{said});"
                " wait for the other operation to finish and re-run"
            )
        if status == 412:
            return PublishError(
                f"{repo_id} changed while publishing: another commit landed first (HTTP 412);"
                " nothing was committed, re-run to publish on top of it"
            )
        if status == 429:
            return PublishError(
                f"the Hub kept rate-limiting requests while {doing} on {repo_id} (HTTP 429, {attempts} attempts);"
                " wait a few minutes and re-run"
            )
        if status is not None and status >= 500:
            return PublishError(
                f"the Hub kept failing while {doing} on {repo_id} (HTTP {status}, {attempts} attempts); nothing was committed,"
                " re-run later (uploads already finished are not sent again)"
            )
        if status is not None:
            return PublishError(f"the Hub refused {doing} on {repo_id} (HTTP {status}{said})")
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return PublishError(f"publishing to {repo_id} failed while {doing}: {first[:200]}")

    def _addition(self, wanted: _Wanted, task: ProgressTask, stack: contextlib.ExitStack) -> Any:
        from huggingface_hub import CommitOperationAdd

        if wanted.data is not None:
            task.advance(len(wanted.data))
            op = CommitOperationAdd(path_in_repo=wanted.file.path, path_or_fileobj=wanted.data)
        else:
            assert wanted.source is not None
            op = CommitOperationAdd(path_in_repo=wanted.file.path, path_or_fileobj=str(wanted.source))
            op.upload_info.sha256 = bytes.fromhex(wanted.file.sha256)  # hashed once, when the manifest was made
            if not _xet_in_use():  # stream through a reader that reports progress (Xet needs the path)
                op.path_or_fileobj = stack.enter_context(_CountingReader(wanted.source, task))
        return op


def _xet_in_use() -> bool:
    """Whether huggingface_hub will upload through Xet (hf_xet installed and not disabled by HF_HUB_DISABLE_XET)."""
    from huggingface_hub import constants

    return not getattr(constants, "HF_HUB_DISABLE_XET", False) and importlib.util.find_spec("hf_xet") is not None


def _add(wanted: dict[str, _Wanted], item: _Wanted) -> None:
    found = wanted.get(item.file.path)
    if found is not None and found.file.sha256 != item.file.sha256:
        raise PublishError(f"two artifacts of this publish put different files at {item.file.path}; publish them with --repo-layout single")
    wanted[item.file.path] = item


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wanted_bytes(path: str, data: bytes) -> _Wanted:
    return _Wanted(file=WantedFile(path=path, size=len(data), sha256=_sha256(data), git_oid=git_blob_oid(data)), data=data)


def _wanted_file(path: str, entry: FileEntry, source: Path) -> _Wanted:
    oid = git_blob_oid(source.read_bytes()) if entry.size < REGULAR_MAX_BYTES else None
    return _Wanted(file=WantedFile(path=path, size=entry.size, sha256=entry.sha256, git_oid=oid), source=source)


def _merge_cards(cards: list[str]) -> str:
    """One card for a repo or folder holding several artifacts: the first card's metadata with every tag, all bodies."""
    if len(cards) == 1:
        return cards[0]
    from huggingface_hub import ModelCard, ModelCardData

    parsed = [ModelCard(c, ignore_metadata_errors=True) for c in cards]
    data = parsed[0].data.to_dict()
    data["tags"] = list(dict.fromkeys(t for p in parsed for t in (p.data.tags or []))) or None
    body = "\n\n".join(p.text.strip() for p in parsed)
    return str(ModelCard(f"---\n{ModelCardData(**data).to_yaml()}\n---\n\n{body}\n"))


def _scan(pub: Publication) -> None:
    """Refuse, before anything is sent, a pickle or a text file that holds a Hub token."""
    source = Path(pub.source_dir)
    for entry in pub.manifest.files:
        if entry.path == CARD_NAME:
            continue
        path = source / entry.path
        with path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
            if is_pickle(entry.path, head):
                raise UserInputError(pickle_refusal(f"{pub.format}/{entry.path}"))
            if entry.path.endswith(".safetensors") and len(head) >= 8:
                fh.seek(0)
                if count_hub_tokens(_safetensors_header(fh)):
                    raise UserInputError(token_refusal(f"{pub.format}/{entry.path} (its metadata)"))
            elif looks_like_text(head):
                fh.seek(0)
                if any(count_hub_tokens(chunk) for chunk in _overlapping(fh)):
                    raise UserInputError(token_refusal(f"{pub.format}/{entry.path}"))
    for label, data in ((CARD_NAME, pub.card.encode()), ("manifest.json", pub.manifest.to_json().encode())):
        if count_hub_tokens(data):
            raise UserInputError(token_refusal(f"{pub.format}/{label}"))


def _safetensors_header(fh: io.BufferedIOBase) -> bytes:
    """The JSON header of a safetensors file (where its metadata strings live); empty if it has none."""
    size = int.from_bytes(fh.read(8), "little")
    return fh.read(size) if size <= 100 * 1024 * 1024 else b""


def _overlapping(fh: io.BufferedIOBase) -> Iterator[bytes]:
    """The file in chunks that overlap by enough to catch a token cut at a chunk boundary."""
    tail = b""
    while chunk := fh.read(SCAN_CHUNK):
        yield tail + chunk
        tail = chunk[-128:]
