"""One connection to the Hub: the huggingface_hub client, its endpoint, and the retries every call goes through.

`open_session` refuses offline mode (HF_HUB_OFFLINE) and a missing token before anything is sent.
`HubSession.call` retries HTTP 429/5xx (and network errors) with exponential backoff honouring
Retry-After, up to `RetryPolicy.attempts` tries in all, then raises the failure `explain`ed (see errors.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from hubship.adapters.hub.auth import hub_token
from hubship.adapters.hub.errors import explain, is_network, root_cause, status
from hubship.domain.errors import HubshipError, UserInputError
from hubship.domain.hub_layout import HubOptions

T = TypeVar("T")
TRANSIENT = (429, 500, 502, 503, 504)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often a failing call is tried (`attempts`, at least 1) and how long to wait in between."""

    attempts: int
    backoff_seconds: float
    max_wait_seconds: float

    def wait(self, exc: BaseException, attempt: int) -> float:
        """Seconds before the next try: the server's Retry-After, else doubling backoff; never above the maximum."""
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        retry_after = headers.get("Retry-After")
        if retry_after is not None:
            try:
                return min(float(retry_after), self.max_wait_seconds)
            except ValueError:
                pass
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_wait_seconds)


@attrs.frozen(kw_only=True)
class HubSession:
    """The client (`api`, an HfApi) of one registry operation, the endpoint it talks to, and the retry policy."""

    api: Any
    endpoint: str
    policy: RetryPolicy

    def call(
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
        attempts = self.policy.attempts if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except HubshipError:
                raise
            except Exception as exc:
                cause = root_cause(exc)
                code = status(cause)
                transient = code in TRANSIENT or (retry_network and code is None and is_network(cause))
                if not transient or attempt == attempts:
                    if explain:
                        raise self.explain(exc, repo_id, doing, attempt) from None
                    raise
                wait = self.policy.wait(cause, attempt)
                if notify is not None:
                    notify(
                        f"{repo_id}: {doing} failed ({f'HTTP {code}' if code else 'network error'});"
                        f" retry {attempt}/{attempts - 1} in {wait:.0f}s"
                    )
                time.sleep(wait)
        raise AssertionError("unreachable")

    def explain(self, exc: BaseException, repo_id: str, doing: str, attempts: int = 1) -> HubshipError:
        """The one-line hubship error for `exc` (see errors.explain)."""
        return explain(exc, repo_id, doing, self.endpoint, attempts)


def hub_endpoint(override: str | None) -> str:
    """The Hub's URL: `override`, else HF_ENDPOINT, else huggingface_hub's default."""
    from huggingface_hub import constants

    return (override or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def open_session(opts: HubOptions, endpoint: str | None, policy: RetryPolicy) -> HubSession:
    """A session with the publish's token; UserInputError when offline or without a token."""
    from huggingface_hub import HfApi, constants

    offline = constants.is_offline_mode() if hasattr(constants, "is_offline_mode") else constants.HF_HUB_OFFLINE
    if offline:
        raise UserInputError("HF_HUB_OFFLINE is set, so nothing can reach the Hub; unset HF_HUB_OFFLINE to publish to hf:")
    token = hub_token(opts)
    url = hub_endpoint(endpoint)
    return HubSession(api=HfApi(endpoint=url, token=token), endpoint=url, policy=policy)
