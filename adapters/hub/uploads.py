"""The files of a commit, sent before it: one CommitOperationAdd per file, and the LFS (or Xet) upload of their content.

Objects the server already holds are skipped by huggingface_hub, which is what makes a re-run after a
dropped connection or a kill resume. Each distinct content is uploaded once, then its copies at other
paths. Uploads are not retried here: the next run resumes them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path
from typing import Any

from hubship.adapters.hub.job import RepoJob
from hubship.adapters.hub.wanted import Wanted
from hubship.ports.progress import ProgressTask


class _CountingReader(io.BufferedReader):
    """A file that reports every byte read (the upload stream) to a progress task."""

    def __init__(self, path: Path, task: ProgressTask) -> None:
        super().__init__(io.FileIO(str(path), "rb"), buffer_size=1 << 20)
        self._task = task

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._task.advance(len(data))
        return data


def xet_in_use() -> bool:
    """Whether huggingface_hub will upload through Xet (hf_xet installed and not disabled by HF_HUB_DISABLE_XET)."""
    from huggingface_hub import constants

    return not getattr(constants, "HF_HUB_DISABLE_XET", False) and importlib.util.find_spec("hf_xet") is not None


def addition(wanted: Wanted, task: ProgressTask, stack: contextlib.ExitStack) -> Any:
    """The commit operation adding `wanted`; a file is read through `task` (unless Xet reads it), closed with `stack`."""
    from huggingface_hub import CommitOperationAdd

    if wanted.data is not None:
        task.advance(len(wanted.data))
        op = CommitOperationAdd(path_in_repo=wanted.file.path, path_or_fileobj=wanted.data)
    else:
        assert wanted.source is not None
        op = CommitOperationAdd(path_in_repo=wanted.file.path, path_or_fileobj=str(wanted.source))
        op.upload_info.sha256 = bytes.fromhex(wanted.file.sha256)  # hashed once, when the manifest was made
        if not xet_in_use():  # stream through a reader that reports progress (Xet needs the path)
            op.path_or_fileobj = stack.enter_context(_CountingReader(wanted.source, task))
    return op


def upload(job: RepoJob, additions: list[Any], send: list[Wanted], task: ProgressTask) -> None:
    """Upload the content of `additions` (the operations of `send`) to the revision, one upload per content."""
    through_xet = sum(w.file.size for w in send if w.source is not None) if xet_in_use() else 0
    firsts = list({op.upload_info.sha256: op for op in reversed(additions)}.values())
    for batch in (firsts, [op for op in additions if op not in firsts]):  # one upload per content, then its copies
        job.hub.call(
            lambda batch=batch: job.hub.api.preupload_lfs_files(
                job.repo_id, additions=batch, revision=job.opts.revision, create_pr=job.opts.create_pr, free_memory=False
            ),
            job.repo_id,
            "uploading files",
            job.notify,
            retry=False,
        )
    task.advance(through_xet)  # Xet reads the files itself: the bar moves once they are up
