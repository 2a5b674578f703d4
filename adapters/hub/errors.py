"""Hub failures as hubship errors: the HTTP or network error under library wrappers, told in one line.

`explain` names what failed and the fix, as a UserInputError (the token, the owner, the repo name) or a
PublishError (the network, conflicts, rate limits, server errors). It never includes the token.
"""

from __future__ import annotations

from hubship.domain.errors import HubshipError, PublishError, UserInputError

NETWORK_ERRORS = {"TransportError", "NetworkError", "RemoteProtocolError", "TimeoutException", "ConnectionError", "Timeout"}


def status(exc: BaseException) -> int | None:
    """The HTTP status of a response error; None for anything else."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def is_network(exc: BaseException) -> bool:
    """Whether `exc` is a connection or timeout error of any HTTP library."""
    names = {c.__name__ for c in type(exc).__mro__}
    return isinstance(exc, ConnectionError | TimeoutError) or bool(names & NETWORK_ERRORS)


def root_cause(exc: BaseException) -> BaseException:
    """The HTTP or network error under library wrappers (e.g. "Error while uploading X")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if status(current) is not None or is_network(current):
            return current
        current = current.__cause__ or current.__context__
    return exc


def server_message(exc: BaseException) -> str:
    """What the server said about the error, on one line of at most 200 characters."""
    text = getattr(exc, "server_message", None) or ""
    return " ".join(str(text).split())[:200]


def explain(exc: BaseException, repo_id: str, doing: str, endpoint: str, attempts: int = 1) -> HubshipError:
    """One line naming the cause and the fix, for `exc` raised while `doing` on `repo_id` (tried `attempts` times)."""
    cause = root_cause(exc)
    code = status(cause)
    owner = repo_id.split("/")[0]
    said = server_message(cause)
    said = f": {said}" if said else ""
    resumes = "" if doing.startswith(("reading", "listing")) else " (uploads already finished are not sent again)"
    if code is None and is_network(cause):
        return PublishError(
            f"cannot reach the Hub at {endpoint} while {doing} ({type(cause).__name__}); check the network"
            f" connection or HF_ENDPOINT, then re-run{resumes}"
        )
    if code == 401:
        return UserInputError(
            "the Hub rejected the token (HTTP 401: invalid or expired); set HF_TOKEN, run `hf auth login`, or pass --token-file"
        )
    if code == 403:
        return UserInputError(f"the token has no write access to {repo_id} (HTTP 403{said}); use a token with write access to {owner}")
    if code == 404:
        return UserInputError(
            f"{repo_id} or its owner {owner} was not found on the Hub while {doing} (HTTP 404{said}); check hf:OWNER/NAME and --revision"
        )
    if code == 409:
        return PublishError(
            f"the Hub reported a conflict on {repo_id} while {doing} (HTTP 409{said}); wait for the other operation to finish and re-run"
        )
    if code == 412:
        return PublishError(
            f"{repo_id} changed while publishing: another commit landed first (HTTP 412);"
            " nothing was committed, re-run to publish on top of it"
        )
    if code == 429:
        return PublishError(
            f"the Hub kept rate-limiting requests while {doing} on {repo_id} (HTTP 429, {attempts} attempts); wait a few minutes and re-run"
        )
    if code is not None and code >= 500:
        return PublishError(
            f"the Hub kept failing while {doing} on {repo_id} (HTTP {code}, {attempts} attempts); nothing was committed,"
            f" re-run later{resumes}"
        )
    if code is not None:
        return PublishError(f"the Hub refused {doing} on {repo_id} (HTTP {code}{said})")
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return PublishError(f"publishing to {repo_id} failed while {doing}: {first[:200]}")
