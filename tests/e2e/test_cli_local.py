"""The `hubship` command as a user runs it: publish to a folder, verify, re-run, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def first_publish(tiny_model, tmp_path_factory):
    from tests.conftest import run_cli

    _, checkpoint = tiny_model
    root = tmp_path_factory.mktemp("cli")
    args = [
        "publish",
        str(checkpoint),
        "--format",
        "lora",
        "-f",
        "merged-16bit",
        "--to",
        f"dir:{root / 'published'}",
        "--workspace",
        str(root / "ws"),
        "--name",
        "tiny",
    ]
    result = run_cli(*args, cwd=root)
    return root, args, result


def test_publish_leaves_each_format_with_card_and_manifest(first_publish):
    root, _, result = first_publish
    assert result.returncode == 0, result.stderr
    for fmt in ("lora", "merged-16bit"):
        folder = root / "published" / "tiny" / fmt
        assert (folder / "README.md").is_file() and (folder / "manifest.json").is_file()
    assert "published" in result.stdout


def test_rerun_rebuilds_and_republishes_nothing(first_publish, cli):
    root, args, _ = first_publish
    before = (root / "published" / "tiny" / "lora" / "manifest.json").stat().st_mtime_ns
    again = cli(*args, "--json", cwd=root)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert all(node["status"] == "up to date" for node in data["plan"]["nodes"])
    assert all(a["reused"] for a in data["artifacts"])
    assert data["published"] == [] and len(data["up_to_date"]) == 2
    assert (root / "published" / "tiny" / "lora" / "manifest.json").stat().st_mtime_ns == before


def test_verify_passes_then_fails_on_one_flipped_byte(first_publish, cli, tmp_path):
    root, _, _ = first_publish
    copy = tmp_path / "copy"
    shutil.copytree(root / "published" / "tiny", copy)
    ok = cli("verify", str(copy), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True and len(json.loads(ok.stdout)["checked"]) == 2

    weights = copy / "merged-16bit" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    bad = cli("verify", str(copy / "merged-16bit"))
    assert bad.returncode == 1
    assert "model.safetensors has sha256" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_plan_prints_the_dag_without_building(tiny_model, cli, tmp_path):
    _, checkpoint = tiny_model
    result = cli(
        "plan", str(checkpoint), "-f", "merged-16bit,lora", "--to", f"dir:{tmp_path / 'out'}", "--workspace", str(tmp_path / "ws"), "--json"
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [n["status"] for n in data["nodes"]] == ["build"] * len(data["nodes"])
    assert data["resources"]["disk_free_bytes"] > 0
    artifacts = tmp_path / "ws" / "artifacts"
    assert not (tmp_path / "out").exists()
    assert not artifacts.exists() or not any(artifacts.iterdir())


def _bad_cases(checkpoint: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    not_a_checkpoint = tmp / "not-a-checkpoint"
    not_a_checkpoint.mkdir()
    (not_a_checkpoint / "notes.txt").write_text("hello")
    return {
        "not a checkpoint": ([str(not_a_checkpoint), "-f", "lora"], "holds no checkpoint: looked for adapter_config.json"),
        "missing base": ([str(checkpoint), "-f", "lora", "--base", str(tmp / "no-such-base")], "does not exist"),
        "unknown format": ([str(checkpoint), "-f", "lora,gguf-q9_z"], "unknown format 'gguf-q9_z'"),
        "malformed --to": ([str(checkpoint), "-f", "lora", "--to", "published"], "malformed destination"),
    }


@pytest.mark.parametrize("case", ["not a checkpoint", "missing base", "unknown format", "malformed --to"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tiny_model, cli, tmp_path):
    args, expected = _bad_cases(tiny_model[1], tmp_path)[case]
    dest = tmp_path / "dest"
    to = [] if "--to" in args else ["--to", f"dir:{dest}"]
    result = cli("publish", *args, *to, "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not dest.exists() and not (tmp_path / "published").exists()
