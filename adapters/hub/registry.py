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

This module is the port; the work is in the package's other modules: scan.py (before upload), commit.py
(one repo, one commit), wanted.py, uploads.py, tags.py, remote.py (reading the repo), cards.py,
session.py (the client and its retries), errors.py (their translation), auth.py (the token).
"""

from __future__ import annotations

from collections.abc import Sequence

from hubship.adapters.hub.commit import publish_repo
from hubship.adapters.hub.errors import root_cause, status
from hubship.adapters.hub.job import RepoJob
from hubship.adapters.hub.remote import read_manifest, read_tree
from hubship.adapters.hub.scan import scan
from hubship.adapters.hub.session import HubSession, RetryPolicy, open_session
from hubship.domain.destination import Destination
from hubship.domain.errors import HubshipError, UserInputError
from hubship.domain.hub_layout import SINGLE, HubOptions, HubTarget, hub_options, hub_target, manifest_path, shares_folder
from hubship.domain.hub_root import is_root_manifest
from hubship.domain.manifest import MANIFEST_NAME
from hubship.domain.publication import PUBLISHED, UP_TO_DATE, Delivery, Publication
from hubship.ports.progress import Progress


class HfHubRegistry:
    """The Registry port for `hf:`; `endpoint` overrides HF_ENDPOINT, the rest bound the retries of every Hub call."""

    scheme = "hf"

    def __init__(
        self, endpoint: str | None = None, attempts: int = 5, backoff_seconds: float = 1.0, max_wait_seconds: float = 30.0
    ) -> None:
        self._endpoint_override = endpoint
        self._policy = RetryPolicy(attempts=max(1, attempts), backoff_seconds=backoff_seconds, max_wait_seconds=max_wait_seconds)

    def locate(self, destination: Destination, name: str, fmt: str) -> str:
        return hub_target(destination.target, fmt, hub_options(destination.options)).location

    def check(self, destination: Destination) -> None:
        hub = self._session(hub_options(destination.options))
        who = hub.call(lambda: hub.api.whoami(), destination.target, "checking the token", retry_network=False)
        role = (who.get("auth") or {}).get("accessToken", {}).get("role")
        if role == "read":
            raise UserInputError("the token is read-only; create a token with write access (huggingface.co/settings/tokens) and use it")
        owner = destination.target.split("/")[0]
        mine = {who.get("name"), *(o.get("name") for o in who.get("orgs") or [])}
        if owner not in mine:
            _owner_refusal(hub, owner, str(who.get("name")), destination.target)

    def is_published(self, destination: Destination, name: str, fmt: str, key: str) -> bool:
        opts = hub_options(destination.options)
        target = hub_target(destination.target, fmt, opts)
        hub = self._session(opts)
        remote = read_tree(hub, target.repo_id, opts.revision, missing_ok=True)
        path = manifest_path(target, fmt, shares_folder(target, destination.target, opts))
        if remote is None or path not in remote.files:
            return False
        manifest = read_manifest(hub, target.repo_id, path, remote.head)
        if manifest is None or not manifest.publishes(name, key):
            return False
        listed = [(target.path(e.path), e) for e in manifest.files]
        if opts.layout == SINGLE:  # and the root: its card and Ollama files, listed by the root manifest
            root = read_manifest(hub, target.repo_id, MANIFEST_NAME, remote.head) if MANIFEST_NAME in remote.files else None
            if root is None or not is_root_manifest(root):
                return False
            listed += [(e.path, e) for e in root.files]
        for where, entry in listed:  # complete: every file there, with its size (and LFS hash)
            found = remote.files.get(where)
            if found is None or found.size != entry.size or found.lfs_sha256 not in (None, entry.sha256):
                return False
        return True

    def publish(self, destination: Destination, publications: Sequence[Publication], progress: Progress) -> list[Delivery]:
        opts = hub_options(destination.options)
        for pub in publications:
            scan(pub)
        hub = self._session(opts)
        groups: dict[str, list[tuple[Publication, HubTarget]]] = {}
        for pub in publications:
            target = hub_target(destination.target, pub.format, opts)
            groups.setdefault(target.repo_id, []).append((pub, target))
        delivered: dict[int, Delivery] = {}
        for repo_id, items in sorted(groups.items()):
            pr_url, changed = publish_repo(
                RepoJob(hub=hub, destination=destination, repo_id=repo_id, items=items, opts=opts, progress=progress)
            )
            for pub, target in items:
                delivered[id(pub)] = Delivery(location=pr_url or target.location, status=PUBLISHED if changed else UP_TO_DATE)
        return [delivered[id(pub)] for pub in publications]

    def _session(self, opts: HubOptions) -> HubSession:
        return open_session(opts, self._endpoint_override, self._policy)


def _owner_refusal(hub: HubSession, owner: str, user: str, target: str) -> None:
    """The UserInputError for a token whose account cannot write to `owner`: another account's, or no such owner."""
    for lookup in (hub.api.get_user_overview, hub.api.get_organization_overview):
        try:
            hub.call(lambda lookup=lookup: lookup(owner), target, "looking up the owner", explain=False)
            raise UserInputError(
                f"the token's account {user} cannot write to {owner} (HTTP 403: neither {user} nor one of its organizations);"
                f" publish to hf:{user}/NAME, or use a token with write access to {owner}"
            )
        except HubshipError:
            raise
        except Exception as exc:
            if status(root_cause(exc)) != 404:
                raise hub.explain(exc, target, "looking up the owner") from None
    raise UserInputError(f"the owner {owner} does not exist on the Hub (HTTP 404); check OWNER in hf:{target}")
