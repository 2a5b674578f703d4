"""`hubship verify`: re-hash a publication against its manifests; a mismatch is VerificationFailed (exit 1)."""

from __future__ import annotations

from pathlib import Path

import attrs

from hubship.application.verify_publication import VerifyRequest
from hubship.domain.errors import VerificationFailed
from hubship.entrypoints import render
from hubship.entrypoints.cli.options import Json, Quiet, container_for


def verify(path: Path, json_out: Json = False, quiet: Quiet = False) -> None:
    """Re-hash every file of a publication against its manifest.json; exit 1 on any mismatch."""
    report = container_for(None, True).verify_publication().execute(VerifyRequest(path=str(path)))
    if json_out:
        render.emit_json(attrs.asdict(report) | {"ok": report.ok})
    elif not quiet:
        render.show_verify(report)
    if not report.ok:
        raise VerificationFailed(f"{len(report.problems)} file(s) do not match their manifest: {report.problems[0]}")
