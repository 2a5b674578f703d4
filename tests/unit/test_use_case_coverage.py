"""`inspect` and `verify` in-process through the CLI (tests/e2e runs them as subprocesses, which coverage does not see)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubship.application.publish_request import PublishRequest
from hubship.entrypoints import cli


def hubship(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture(scope="module")
def published(tiny_model, tmp_path_factory) -> Path:
    from hubship.entrypoints.container import create_container

    root = tmp_path_factory.mktemp("verify")
    request = PublishRequest(checkpoint=str(tiny_model[1]), formats=("lora",), destinations=(f"dir:{root / 'out'}",), name="tiny")
    create_container({"workspace": root / "ws", "quiet": True}).execute_plan().execute(request)
    return root / "out"


def test_inspect_text_and_json(tiny_model, capsys):
    code, out, _ = hubship(capsys, "inspect", str(tiny_model[1]), "--json")
    assert code == 0 and json.loads(out)["peft_type"] == "LORA"
    code, out, _ = hubship(capsys, "inspect", str(tiny_model[1]))
    assert code == 0 and "LORA" in out


def test_verify_passes_then_names_each_problem(published, capsys, tmp_path):
    code, out, _ = hubship(capsys, "verify", str(published), "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    assert hubship(capsys, "verify", str(published / "tiny" / "lora"))[0] == 0
    target = published / "tiny" / "lora" / "adapter_config.json"
    target.write_text(target.read_text() + " ")
    code, _, err = hubship(capsys, "verify", str(published))
    assert code == 1 and "adapter_config.json" in err and len(err.strip().splitlines()) == 1
    (published / "tiny" / "lora" / "manifest.json").write_text("{not json")
    code, out, _ = hubship(capsys, "verify", str(published), "--json")
    assert code == 1 and "unreadable manifest" in json.dumps(json.loads(out)["problems"])


@pytest.mark.parametrize(("make", "expected"), [("file", "is not a folder"), ("empty", "holds no manifest.json")])
def test_verify_refuses_what_is_not_a_publication(make, expected, tmp_path, capsys):
    target = tmp_path / make
    target.write_text("x") if make == "file" else target.mkdir()
    code, _, err = hubship(capsys, "verify", str(target))
    assert code == 2 and expected in err
