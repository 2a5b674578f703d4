"""The publish name as a user meets it: `--name`, else the NAME of the one `hf:OWNER/NAME`, else the folder's.

Runs `python -m hubship` against the local Hub stand-in and a local folder, and reads back the exact files
and card titles. A rename is a new publication: cards get the new title and GGUF files the new name (the old
ones leave the repo), and nothing reports "up to date" until it is done.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support import hub_fixtures
from tests.support.hub_fixtures import hub_environment

pytestmark = pytest.mark.slow
hub = hub_fixtures.hub  # the module's fixture
FORMATS = "merged-16bit,gguf-q4_k_m"


@pytest.fixture(scope="module")
def ckpt_sft(tiny_model, tmp_path_factory) -> Path:
    """The tiny checkpoint in a folder named like the issue's: `ckpt-sft` (the folder-derived name)."""
    folder = tmp_path_factory.mktemp("run") / "ckpt-sft"
    shutil.copytree(tiny_model[1], folder)
    return folder


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("workspace")


def title(text: bytes | str) -> str:
    text = text.decode() if isinstance(text, bytes) else text
    return next(line for line in text.splitlines() if line.startswith("# "))


def run(cli, env, *args: str):
    result = cli(*args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_the_hub_name_names_the_files_and_a_rename_rewrites_them(hub, cli, ckpt_sft, workspace, tmp_path):
    env = hub_environment(hub, tmp_path / "home")
    common = [str(ckpt_sft), "-f", FORMATS, "--to", "hf:alice/smol-support", "-w", str(workspace)]

    plan = json.loads(run(cli, env, "plan", *common, "--json").stdout)
    assert (plan["name"], plan["name_origin"]) == ("smol-support", "hf:alice/smol-support")
    shown = run(cli, env, "plan", *common).stdout
    assert "name smol-support (from hf:alice/smol-support)" in shown

    run(cli, env, "publish", *common, "-q")
    assert sorted(p for p in hub.files("alice/smol-support-GGUF") if p.endswith(".gguf")) == ["smol-support.Q4_K_M.gguf"]
    assert title(hub.file_bytes("alice/smol-support-GGUF", "README.md")) == "# smol-support (gguf-q4_k_m)"
    assert title(hub.file_bytes("alice/smol-support", "README.md")) == "# smol-support (merged-16bit)"

    renamed = run(cli, env, "publish", *common, "--name", "support-bot", "--json")
    result = json.loads(renamed.stdout)
    assert result["up_to_date"] == []
    assert sorted(result["published"]) == ["alice/smol-support", "alice/smol-support-GGUF"]
    assert sorted(p for p in hub.files("alice/smol-support-GGUF") if p.endswith(".gguf")) == ["support-bot.Q4_K_M.gguf"]
    assert title(hub.file_bytes("alice/smol-support-GGUF", "README.md")) == "# support-bot (gguf-q4_k_m)"
    assert title(hub.file_bytes("alice/smol-support", "README.md")) == "# support-bot (merged-16bit)"
    manifest = json.loads(hub.file_bytes("alice/smol-support", "manifest.json"))
    assert manifest["name"] == "support-bot"

    again = json.loads(run(cli, env, "publish", *common, "--name", "support-bot", "--json").stdout)
    assert again["published"] == [] and sorted(again["up_to_date"]) == ["alice/smol-support", "alice/smol-support-GGUF"]


def test_without_a_hub_destination_the_folder_names_it_and_a_rename_is_a_new_folder(cli, ckpt_sft, workspace, tmp_path):
    out = tmp_path / "out"
    common = [str(ckpt_sft), "-f", "gguf-q4_k_m", "--to", f"dir:{out}", "-w", str(workspace)]
    plan = json.loads(run(cli, None, "plan", *common, "--json").stdout)
    assert (plan["name"], plan["name_origin"]) == ("ckpt-sft", "the checkpoint folder")

    run(cli, None, "publish", *common, "-q")
    run(cli, None, "publish", *common, "-n", "support-bot", "-q")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.gguf")) == [
        "ckpt-sft/gguf-q4_k_m/ckpt-sft.Q4_K_M.gguf",
        "support-bot/gguf-q4_k_m/support-bot.Q4_K_M.gguf",
    ]
    assert title((out / "support-bot" / "gguf-q4_k_m" / "README.md").read_text()) == "# support-bot (gguf-q4_k_m)"


def test_a_name_that_would_escape_the_destination_writes_nothing_anywhere(cli, ckpt_sft, tmp_path):
    case = tmp_path / "case"
    (case / "cwd").mkdir(parents=True)
    result = cli(
        "publish", str(ckpt_sft), "-f", "lora", "-n", "../../escaped", "--to", "dir:dest", "-w", str(case / "ws"), cwd=case / "cwd"
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "hubship: error: invalid --name '../../escaped': it holds a path separator; pass a name such as my-model"
    )
    assert [p.relative_to(case).as_posix() for p in case.rglob("*")] == ["cwd"]
