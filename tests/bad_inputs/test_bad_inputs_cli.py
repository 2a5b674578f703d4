"""Two bad inputs as a user meets them: `python -m hubship` in a subprocess, with a clean environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_inputs.test_bad_inputs import adapter_with

pytestmark = pytest.mark.slow


def check(result, expected: str, tmp: Path) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hubship: error: ") and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp / "dest").exists() and not (tmp / "published").exists() and not any((tmp / "ws").glob("artifacts/*"))


def test_missing_hub_token(checkpoint_copy, tmp_path, cli, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)  # and no saved login in a fresh HF_HOME
    env = {"HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}
    result = cli("publish", str(checkpoint_copy), "-f", "lora", "--to", "hf:alice/x", "-w", str(tmp_path / "ws"), cwd=tmp_path, env=env)
    check(result, "no Hub token found", tmp_path)


def test_nan_weights(checkpoint_copy, tmp_path, cli):
    adapter_with(checkpoint_copy, float("nan"))
    result = cli(
        "publish", str(checkpoint_copy), "-f", "lora", "--to", f"dir:{tmp_path / 'dest'}", "-w", str(tmp_path / "ws"), cwd=tmp_path
    )
    check(result, "NaN or infinite", tmp_path)
