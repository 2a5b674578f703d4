"""The --tag of a publish: checked free before a commit, then put on the commit (or on the unchanged head)."""

from __future__ import annotations

from hubship.adapters.hub.job import RepoJob
from hubship.adapters.hub.session import HubSession
from hubship.domain.errors import UserInputError


def tag(job: RepoJob, oid: str) -> None:
    """Tag `oid` with the publish's tag, if any; already there is fine, on another commit is a UserInputError."""
    name, repo_id = job.opts.tag, job.repo_id
    if not name:
        return
    refs = job.hub.call(lambda: job.hub.api.list_repo_refs(repo_id), repo_id, "reading tags", job.notify)
    found = {t.name: t.target_commit for t in refs.tags}
    if found.get(name) == oid:
        return
    if name in found:
        raise UserInputError(f"tag {name} already exists in {repo_id} on another commit; pass another --tag")
    job.hub.call(lambda: job.hub.api.create_tag(repo_id, tag=name, revision=oid), repo_id, f"creating tag {name}", job.notify)
    job.notify(f"{repo_id}: tagged {oid[:12]} as {name}")


def check_tag_free(hub: HubSession, repo_id: str, tag: str) -> None:
    """UserInputError when `tag` already exists in the repo (checked before anything is committed)."""
    refs = hub.call(lambda: hub.api.list_repo_refs(repo_id), repo_id, "reading tags")
    if any(t.name == tag for t in refs.tags):
        raise UserInputError(f"tag {tag} already exists in {repo_id}; pass another --tag (nothing was committed)")
