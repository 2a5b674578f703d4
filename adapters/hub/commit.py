"""One repo, one commit: compare with the remote tree, upload what differs, commit it atomically, verify, tag.

The commit names `parent_commit`, so a concurrent writer makes it fail cleanly (HTTP 412) instead of
mixing commits. A 412 whose repo already holds every wanted file is an earlier attempt's commit whose
answer was lost: it counts as done, with no second commit. When nothing differs no commit is made.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hubship.adapters.hub.errors import root_cause, status
from hubship.adapters.hub.job import RepoJob
from hubship.adapters.hub.remote import read_tree
from hubship.adapters.hub.tags import check_tag_free, tag
from hubship.adapters.hub.uploads import addition, upload
from hubship.adapters.hub.wanted import wanted_files
from hubship.domain.errors import HubshipError, VerificationFailed
from hubship.domain.hub_sync import WantedFile, changes, mismatches


def publish_repo(job: RepoJob) -> tuple[str | None, bool]:
    """Bring the repo to hold every file of `job` in at most one commit; returns (the PR URL with --create-pr,
    whether a commit was made)."""
    api, repo_id, opts, notify = job.hub.api, job.repo_id, job.opts, job.notify
    job.hub.call(lambda: api.create_repo(repo_id, private=opts.private or None, exist_ok=True), repo_id, "creating the repo", notify)
    branch = opts.revision
    if branch != "main" and not opts.create_pr and not branch.startswith("refs/pr/"):
        job.hub.call(lambda: api.create_branch(repo_id, branch=branch, exist_ok=True), repo_id, f"creating branch {branch}", notify)
    remote = read_tree(job.hub, repo_id, branch)
    assert remote is not None
    wanted, stale = wanted_files(job, remote)
    todo = changes([w.file for w in wanted], remote.files, stale)
    where = f"{repo_id}@{branch}"
    if todo.empty:
        notify(f"{where} already holds every file; no commit made")
        tag(job, remote.head)
        return None, False
    if opts.tag:
        check_tag_free(job.hub, repo_id, opts.tag)
    send = [w for w in wanted if w.file in todo.send]
    total = sum(w.file.size for w in send)
    notify(f"{where}: sending {len(send)} changed file(s) ({total / 1e6:.1f} MB), deleting {len(todo.delete)}, in one commit")
    with contextlib.ExitStack() as stack:
        task = stack.enter_context(job.progress.task(f"upload to {repo_id}", total=total, unit="bytes"))
        additions = [addition(w, task, stack) for w in send]
        from huggingface_hub import CommitOperationDelete

        deletions = [CommitOperationDelete(path_in_repo=p) for p in todo.delete]
        upload(job, additions, send, task)
        oid, pr_url = _commit(job, [*additions, *deletions], remote.head, [w.file for w in wanted])
    _verify(job, oid, [w.file for w in wanted])
    notify(f"{where}: committed {oid[:12]}" + (f" as {pr_url}" if pr_url else ""))
    tag(job, oid)
    return pr_url, True


def _commit(job: RepoJob, operations: list[Any], head: str, wanted: list[WantedFile]) -> tuple[str, str | None]:
    """Create the commit on top of `head`; returns (commit id, PR URL or None)."""
    opts, repo_id = job.opts, job.repo_id
    names = ", ".join(sorted({p.format for p, _ in job.items}))
    message = f"hubship: publish {job.items[0][0].name} ({names})"
    description = "\n".join(f"- {p.format}: content key {p.manifest.key}" for p, _ in job.items)
    try:
        info = job.hub.call(
            lambda: job.hub.api.create_commit(
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
            job.notify,
            explain=False,
        )
    except HubshipError:
        raise
    except Exception as exc:
        if status(root_cause(exc)) == 412 and not opts.create_pr:
            landed = _landed(job, head, wanted)
            if landed:  # an earlier attempt's commit went through and only its answer was lost
                return landed, None
        raise job.hub.explain(exc, repo_id, "committing", job.hub.policy.attempts) from None
    return info.oid, info.pr_url


def _landed(job: RepoJob, head: str, wanted: list[WantedFile]) -> str | None:
    """The new head, when the branch moved past `head` and holds exactly the wanted files."""
    now = read_tree(job.hub, job.repo_id, job.opts.revision)
    if now is None or now.head == head or mismatches(wanted, now.files):
        return None
    return now.head


def _verify(job: RepoJob, oid: str, wanted: list[WantedFile]) -> None:
    """VerificationFailed unless the commit holds every wanted file with its size and hash."""
    remote = read_tree(job.hub, job.repo_id, oid)
    problems = mismatches(wanted, remote.files if remote else {})
    if problems:
        raise VerificationFailed(
            f"after the commit {oid[:12]}, {len(problems)} file(s) on {job.repo_id} do not match the manifest"
            f" ({problems[0]}); re-run the publish to repair it"
        )
