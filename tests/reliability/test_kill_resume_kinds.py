"""SIGKILL a publish of each real kind of checkpoint (a QLoRA adapter on a 4-bit base, a full fine-tune, a run
folder) at one point inside its own step, to a folder and to the Hub; then, as for adapters
(test_kill_resume.py): nothing partial is published, `plan --json` reports what finished as up to date, and the
re-run finishes without redoing it, publishing files byte-identical to an uninterrupted run's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.reliability.test_kill_resume import events, tree
from tests.support.checkpoints import without_root_model
from tests.support.hub_fixtures import ALICE_TOKEN, check_against_manifest

pytestmark = pytest.mark.slow


@attrs.frozen
class Kind:
    id: str
    checkpoint: str  # a key of real_checkpoints, or "run:KEY" for that run without its final model
    formats: str
    options: dict[str, Any]
    event: str
    pattern: str
    nth: int
    done: frozenset[str]  # nodes finished when the kill lands


KINDS = (
    Kind("qlora-mid-dequantizing-merge", "qlora-nf4-dq", "lora,merged-16bit", {"dtype": "fp32"}, "advance", r"^merge \(streaming\)$", 3,
         frozenset({"lora", "reference-logits"})),
    Kind("full-mid-reference", "full", "merged-16bit,merged-4bit", {"dtype": "bf16"}, "advance", r"^reference logits$", 2, frozenset()),
    Kind("run-folder-mid-upload", "run:qlora-int8", "lora", {}, "advance", r"^upload to alice/", 1, frozenset({"lora"})),
)  # fmt: skip


def _checkpoint(real: dict[str, Path], kind: Kind, where: Path) -> Path:
    if kind.checkpoint.startswith("run:"):
        return without_root_model(real[kind.checkpoint[4:]], where / "run")
    return real[kind.checkpoint]


def _publish(zygote, checkpoint: Path, kind: Kind, case: Path, log: Path | None = None, at: dict[str, Any] | None = None):
    publish = {
        "checkpoint": str(checkpoint),
        "name": kind.id,
        "formats": kind.formats,
        "to": ["dir:out", f"hf:alice/{kind.id}"],
        "workspace": str(case / "ws"),
        "options": kind.options,
    }
    env = {"HUBSHIP_PROGRESS_EVENTS": str(log)} if log else {}
    at = at or {"event": "message", "pattern": "^never$", "nth": 1}  # no kill: the job runs to its end
    return zygote.run("kill", case, env, publish=publish, at=at)


def _hub(hub, kind: Kind) -> dict[str, dict[str, bytes]]:
    repos = [r for r in hub.state.repos if r.startswith(f"alice/{kind.id}")]
    return {r: {p: hub.file_bytes(r, p) for p in hub.files(r)} for r in repos}


def _wipe(hub, kind: Kind) -> None:
    for repo in [r for r in hub.state.repos if r.startswith(f"alice/{kind.id}")]:
        hub.state.delete_repo(repo, hub.state.account(ALICE_TOKEN))


@pytest.mark.parametrize("kind", KINDS, ids=[k.id for k in KINDS])
def test_a_killed_publish_of_each_kind_resumes_to_identical_artifacts(kind, zygote, hub, real_checkpoints, tmp_path):
    checkpoint = _checkpoint(real_checkpoints, kind, tmp_path)
    baseline_case, case = tmp_path / "baseline", tmp_path / "killed"
    baseline_case.mkdir()
    case.mkdir()
    assert _publish(zygote, checkpoint, kind, baseline_case).code == 0
    baseline = {"dir": tree(baseline_case / "out"), "hub": _hub(hub, kind)}
    _wipe(hub, kind)

    log = case / "killed.jsonl"
    at = {"event": kind.event, "pattern": kind.pattern, "nth": kind.nth}
    killed = _publish(zygote, checkpoint, kind, case, log, at)
    assert killed.code == -9, killed.stderr
    last = events(log)[-1]
    assert last["event"] == kind.event and re.search(kind.pattern, last.get("task") or last["text"])
    for folder in (case / "out" / kind.id).glob("[!.]*"):  # only complete artifacts under final names
        check_against_manifest(folder)
    assert all(len(hub.commits(r)) <= 1 for r in _hub(hub, kind))
    assert all(files == baseline["hub"][repo] for repo, files in _hub(hub, kind).items() if hub.commits(repo))

    argv = ["plan", str(checkpoint), "-f", kind.formats, "-n", kind.id, "--to", "dir:out", "--to", f"hf:alice/{kind.id}"]
    argv += ["-w", str(case / "ws"), *(a for k, v in kind.options.items() for a in (f"--{k}", str(v))), "--json"]
    planned = zygote.cli(*argv, cwd=case)
    assert planned.code == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert {n["format"] for n in plan["nodes"] if n["status"] == "up to date"} == kind.done

    rerun_log = case / "rerun.jsonl"
    assert _publish(zygote, checkpoint, kind, case, rerun_log).code == 0
    rebuilt = {e["text"].split()[1] for e in events(rerun_log) if e["event"] == "message" and e["text"].startswith("building ")}
    assert not rebuilt & kind.done and rebuilt == {n["format"] for n in plan["nodes"]} - kind.done
    assert tree(case / "out") == baseline["dir"]
    assert _hub(hub, kind) == baseline["hub"] and all(len(hub.commits(r)) == 1 for r in baseline["hub"])
