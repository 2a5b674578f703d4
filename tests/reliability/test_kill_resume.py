"""SIGKILL a publish at 15 points spread over hashing, merge, verification, quantization, GGUF conversion, the
imatrix, local-registry publish and Hub upload; then:

- no destination shows a partial artifact (dir: only complete folders under final names; Hub: no commit
  or whole commits, never a partial one);
- `hubship plan --json` reports every step finished before the kill as "up to date", and the re-run
  does not build those again;
- the re-run finishes, and every published file (artifacts, cards, manifests, in the folder and on the
  Hub) is byte-identical to an uninterrupted run's; each Hub repo holds exactly one commit.

Each kill is exact: the child SIGKILLs itself when the chosen progress event is written (see zygote.py),
so a case lands at the same point of the same step every run, and the events log proves where.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.support.hub_fixtures import ALICE_TOKEN, check_against_manifest
from tests.support.hub_server import HubServer

pytestmark = pytest.mark.slow

FORMATS = "lora,merged-4bit,gguf-q3_k_m"  # q3_k_m: the imatrix, and both variants measured (--imatrix auto)
NAME = "tiny"
REPOS = ("alice/tiny", "alice/tiny-GGUF", "alice/tiny-bnb-4bit")  # split layout (lora in the main repo); commit order
BUILD_ORDER = ("lora", "reference-logits", "merged-16bit", "merged-4bit", "gguf-intermediate", "gguf-imatrix", "gguf-q3_k_m")
REQUESTED = ("lora", "merged-4bit", "gguf-q3_k_m")
DIR, HF = "dir:out", "hf:alice/tiny"
# a short calibration (3 chunks of 512 tokens for the tiny tokenizer): the imatrix takes a second, not ten
CALIBRATE = ("--calibration", str(Path(__file__).resolve().parents[1] / "data" / "calibration" / "short.txt"))


def built_before(fmt: str | None) -> frozenset[str]:
    """Every node built before `fmt` (None: all of them)."""
    return frozenset(BUILD_ORDER if fmt is None else BUILD_ORDER[: BUILD_ORDER.index(fmt)])


@attrs.frozen
class Point:
    id: str
    event: str  # start | advance | end | message
    pattern: str  # regex on the step's description (or the message)
    nth: int
    done: frozenset[str]  # nodes finished when the kill lands
    published: frozenset[tuple[str, str]] = frozenset()  # (destination, format) targets finished when it lands
    reuse_conversion: bool = False  # seed the workspace with the baseline's f32 GGUF (saves a 6 s conversion)


POINTS = (
    Point("hash-inputs", "advance", r"^hash inputs$", 3, frozenset()),
    Point("lora-copy", "start", r"^copy adapter$", 1, frozenset()),
    Point("reference-logits", "advance", r"^reference logits$", 2, built_before("reference-logits")),
    Point("merge", "advance", r"^merge \(streaming\)$", 1, built_before("merged-16bit")),
    Point("merge-verify", "start", r"^artifact logits$", 1, built_before("merged-16bit")),
    Point("bnb-quantize", "advance", r"^quantize \(nf4", 1, built_before("merged-4bit")),
    Point("gguf-convert", "advance", r"^convert to GGUF", 1, built_before("gguf-intermediate")),
    Point("gguf-imatrix", "advance", r"^imatrix of ", 1, built_before("gguf-imatrix"), reuse_conversion=True),
    Point("gguf-quantize", "start", r"^quantize Q3_K_M$", 1, built_before("gguf-q3_k_m"), reuse_conversion=True),
    Point("gguf-quantize-imatrix", "advance", r"^quantize Q3_K_M with imatrix$", 1, built_before("gguf-q3_k_m"), reuse_conversion=True),
    Point("gguf-verify", "start", r"^verify .*Q3_K_M\.gguf$", 2, built_before("gguf-q3_k_m"), reuse_conversion=True),
    Point("hash-artifacts", "advance", r"^hash [0-9a-f]{12}$", 2, built_before(None), reuse_conversion=True),
    Point("dir-publish", "advance", r"^publish to dir:", 2, built_before(None), reuse_conversion=True),
    Point(
        "hub-upload",
        "advance",
        r"^upload to alice/tiny$",
        1,
        built_before(None),
        frozenset((DIR, f) for f in REQUESTED),
        reuse_conversion=True,
    ),
    Point(
        "hub-between-commits",
        "message",
        r"committed",
        1,
        built_before(None),
        frozenset({*((DIR, f) for f in REQUESTED), (HF, "lora")}),
        reuse_conversion=True,
    ),
)


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too), by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def hub_repos(hub: HubServer) -> dict[str, dict[str, bytes]]:
    return {r: {p: hub.file_bytes(r, p) for p in hub.files(r)} for r in REPOS if r in hub.state.repos}


def wipe_hub(hub: HubServer) -> None:
    account = hub.state.account(ALICE_TOKEN)
    for repo in REPOS:
        if repo in hub.state.repos:
            hub.state.delete_repo(repo, account)


def publish_argv(checkpoint: Path, workspace: Path) -> list[str]:
    return ["publish", str(checkpoint), "-f", FORMATS, "-n", NAME, "--to", DIR, "--to", HF, "-w", str(workspace), "-q", *CALIBRATE]


def plan_json(zygote, checkpoint: Path, case: Path, workspace: Path) -> dict[str, Any]:
    argv = ["plan", str(checkpoint), "-f", FORMATS, "-n", NAME, "--to", DIR, "--to", HF, "-w", str(workspace), "--json", *CALIBRATE]
    finished = zygote.cli(*argv, cwd=case)
    assert finished.code == 0, finished.stderr
    return json.loads(finished.stdout)


@pytest.fixture(scope="module")
def baseline(zygote, hub, tiny_model, tmp_path_factory) -> dict[str, Any]:
    """One uninterrupted publish: its folder, its Hub repos, its workspace and its plan (all up to date)."""
    checkpoint = tiny_model[1]
    case = tmp_path_factory.mktemp("baseline")
    done = zygote.cli(*publish_argv(checkpoint, case / "ws"), cwd=case)
    assert done.code == 0, done.stderr
    plan = plan_json(zygote, checkpoint, case, case / "ws")
    assert {n["status"] for n in plan["nodes"]} == {"up to date"}
    assert all(t["up_to_date"] for t in plan["targets"])
    repos = hub_repos(hub)
    assert sorted(repos) == sorted(REPOS) and all(len(hub.commits(r)) == 1 for r in REPOS)
    wipe_hub(hub)
    return {"dir": tree(case / "out"), "hub": repos, "ws": case / "ws", "keys": {n["format"]: n["key"] for n in plan["nodes"]}}


def assert_no_partial_artifact(case: Path, hub: HubServer, baseline: dict[str, Any]) -> None:
    out = case / "out" / NAME
    for entry in out.iterdir() if out.is_dir() else ():
        if entry.name.startswith("."):
            continue  # a temporary folder: never under a final name
        assert entry.name in REQUESTED, entry
        check_against_manifest(entry)
        assert tree(entry) == {k.split("/", 2)[2]: v for k, v in baseline["dir"].items() if k.startswith(f"{NAME}/{entry.name}/")}
    for repo in REPOS:
        if repo in hub.state.repos:
            assert len(hub.commits(repo)) <= 1, repo
            if hub.commits(repo):
                assert hub_repos(hub)[repo] == baseline["hub"][repo], f"{repo} holds a partial commit"


@pytest.mark.parametrize("point", POINTS, ids=[p.id for p in POINTS])
def test_killed_publish_resumes_to_identical_artifacts(point: Point, zygote, hub, tiny_model, baseline, tmp_path):
    checkpoint = tiny_model[1]
    case, workspace = tmp_path, tmp_path / "ws"
    wipe_hub(hub)
    if point.reuse_conversion:
        key = baseline["keys"]["gguf-intermediate"]
        shutil.copytree(baseline["ws"] / "artifacts" / key, workspace / "artifacts" / key)
    log = case / "killed.jsonl"
    publish = {"checkpoint": str(checkpoint), "name": NAME, "formats": FORMATS, "to": [DIR, HF], "workspace": str(workspace)}
    publish["options"] = {"calibration": CALIBRATE[1]}
    at = {"event": point.event, "pattern": point.pattern, "nth": point.nth}
    killed = zygote.run("kill", case, {"HUBSHIP_PROGRESS_EVENTS": str(log)}, publish=publish, at=at)

    assert killed.code == -9, killed.stderr
    last = events(log)[-1]
    assert last["event"] == point.event and re.search(point.pattern, last.get("task") or last["text"])  # died right there
    assert_no_partial_artifact(case, hub, baseline)

    plan = plan_json(zygote, checkpoint, case, workspace)
    assert {n["format"]: n["key"] for n in plan["nodes"]} == baseline["keys"]
    up_to_date = {n["format"] for n in plan["nodes"] if n["status"] == "up to date"}
    expected = point.done | ({"gguf-intermediate"} if point.reuse_conversion else set())
    assert up_to_date == expected
    published = {(t["destination"], t["format"]) for t in plan["targets"] if t["up_to_date"]}
    assert published == point.published

    rerun_log = case / "rerun.jsonl"
    rerun = zygote.cli(*publish_argv(checkpoint, workspace), cwd=case, env={"HUBSHIP_PROGRESS_EVENTS": str(rerun_log)})
    assert rerun.code == 0, rerun.stderr
    rebuilt = {e["text"].split()[1] for e in events(rerun_log) if e["event"] == "message" and e["text"].startswith("building ")}
    assert rebuilt == set(BUILD_ORDER) - up_to_date  # finished steps are not redone

    assert tree(case / "out") == baseline["dir"]
    assert hub_repos(hub) == baseline["hub"]
    assert all(len(hub.commits(r)) == 1 for r in REPOS)
    assert not any((workspace / "tmp").iterdir())
