"""The RemoteRepo port on the Hub: a repo's file listing (sizes, git oids, LFS sha256) and its small files.

Reading needs no write token: a public repo is read anonymously, a private one with HF_TOKEN or the saved
login. Nothing big is downloaded: weights are LFS files, whose sha256 the listing carries.
"""

from __future__ import annotations

from hubship.adapters.hub.remote import read_file, read_tree
from hubship.adapters.hub.session import HubSession, RetryPolicy, hub_endpoint
from hubship.domain.errors import UserInputError
from hubship.domain.hub_sync import RemoteTree


class HfRemoteRepo:
    """`endpoint` overrides HF_ENDPOINT; `attempts` bounds the retries of each call."""

    def __init__(self, endpoint: str | None = None, attempts: int = 3) -> None:
        self._endpoint = endpoint
        self._policy = RetryPolicy(attempts=max(1, attempts), backoff_seconds=1.0, max_wait_seconds=10.0)
        self._hub: HubSession | None = None

    def _session(self) -> HubSession:
        if self._hub is None:
            from huggingface_hub import HfApi, constants, get_token

            offline = constants.is_offline_mode() if hasattr(constants, "is_offline_mode") else constants.HF_HUB_OFFLINE
            if offline:
                raise UserInputError("HF_HUB_OFFLINE is set, so nothing can reach the Hub; unset HF_HUB_OFFLINE to verify hf:")
            url = hub_endpoint(self._endpoint)
            self._hub = HubSession(api=HfApi(endpoint=url, token=get_token() or False), endpoint=url, policy=self._policy)
        return self._hub

    def tree(self, repo_id: str, revision: str) -> RemoteTree:
        found = read_tree(self._session(), repo_id, revision, missing_ok=True)
        if found is None:
            raise UserInputError(
                f"hf:{repo_id}@{revision} was not found on the Hub (or is private and HF_TOKEN cannot read it);"
                " check OWNER/NAME and the revision"
            )
        return found

    def read(self, repo_id: str, path: str, revision: str) -> bytes | None:
        return read_file(self._session(), repo_id, path, revision)
