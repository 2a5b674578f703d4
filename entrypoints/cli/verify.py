"""`hubship verify`: check a publication against its manifests; a mismatch is VerificationFailed (exit 1)."""

from __future__ import annotations

from typing import Annotated

import attrs
import typer

from hubship.application.verify_publication import VerifyRequest
from hubship.domain.errors import VerificationFailed
from hubship.entrypoints import render
from hubship.entrypoints.cli.options import Json, Quiet, container_for

Target = Annotated[
    str,
    typer.Argument(
        metavar="PUBLICATION",
        help="A folder hubship published (dir:), or a Hub repo: hf:OWNER/NAME or hf:OWNER/NAME@REVISION (a branch, tag or commit).",
    ),
]


def verify(path: Target, json_out: Json = False, quiet: Quiet = False) -> None:
    """Check every file of a publication against its manifests (a folder: re-hashed; a Hub repo: from its file
    listing, no weights downloaded); exit 1 on any mismatch, naming the file."""
    report = container_for(None, True).verify_publication().execute(VerifyRequest(path=path))
    if json_out:
        render.emit_json(attrs.asdict(report) | {"ok": report.ok})
    elif not quiet:
        render.show_verify(report)
    if not report.ok:
        raise VerificationFailed(f"{len(report.problems)} file(s) do not match their manifest: {report.problems[0]}")
