"""hubship.toml as a user writes it: defaults apply, flags override them, `plan` names each setting's origin."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

CONFIG = """# a trainer's hubship settings
formats = ["lora", "merged-16bit"]
to = ["dir:./from-config"]
max-shard-size = "500MB"
method = "kto"

[thresholds.merged-16bit]
mean_kl = 1e-6
"""


@pytest.fixture
def trainer(tiny_model, tmp_path: Path) -> Path:
    (tmp_path / "hubship.toml").write_text(f'workspace = "{tmp_path / "ws"}"\n' + CONFIG)
    return tmp_path


def _settings(stdout: str) -> dict[str, tuple[object, str]]:
    return {k: (v["value"], v["origin"]) for k, v in json.loads(stdout)["settings"].items()}


@pytest.mark.slow
def test_config_defaults_apply_flags_override_and_plan_names_origins(trainer, tiny_model, cli):
    result = cli("plan", str(tiny_model[1]), "--to", "dir:./from-flag", "--json", cwd=trainer)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    config = str(trainer / "hubship.toml")
    settings = _settings(result.stdout)
    assert settings["format"] == (["lora", "merged-16bit"], config)
    assert settings["max-shard-size"] == ("500MB", config) and settings["method"] == ("kto", config)
    assert settings["to"] == (["dir:./from-flag"], "flag")
    assert settings["dtype"] == (None, "default") and settings["backend"][1] == "default"
    assert [n["format"] for n in data["nodes"] if n["requested"]] == ["lora", "merged-16bit"]
    assert {t["destination"] for t in data["targets"]} == {"dir:./from-flag"}
    assert data["training_method"] == "kto" and data["options"]["max_shard_size"] == 500_000_000
    assert settings["threshold"] == ({"merged-16bit": {"mean_kl": 1e-6}}, config)  # a table: repeated --threshold values
    assert data["options"]["thresholds"] == {"merged-16bit": {"mean_kl": 1e-6}}

    shown = cli("plan", str(tiny_model[1]), "-f", "lora", cwd=trainer)
    assert shown.returncode == 0, shown.stderr
    assert "settings" in shown.stdout and f"config: {config}" in shown.stdout
    assert re.search(r"│ format +│ lora +│ flag +│", shown.stdout) and re.search(r"│ method +│ kto +│ config +│", shown.stdout)


@pytest.mark.slow
def test_config_in_the_checkpoint_folder_and_an_explicit_config(tiny_model, cli, tmp_path):
    checkpoint = shutil.copytree(tiny_model[1], tmp_path / "run" / "checkpoint-7")
    (checkpoint / "hubship.toml").write_text('format = "lora"\nname = "from-checkpoint"\n')
    (tmp_path / "other.toml").write_text('formats = ["lora"]\nname = "from-explicit"\n')
    found = cli("plan", str(checkpoint), "--json", "--workspace", str(tmp_path / "ws"), cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert _settings(found.stdout)["name"] == ("from-checkpoint", str(checkpoint / "hubship.toml"))
    explicit = cli("plan", str(checkpoint), "--json", "--config", str(tmp_path / "other.toml"), "--workspace", str(tmp_path / "ws"))
    assert explicit.returncode == 0, explicit.stderr
    assert json.loads(explicit.stdout)["name"] == "from-explicit"


def test_unknown_key_is_one_line_naming_it(trainer, tiny_model, cli):
    (trainer / "hubship.toml").write_text("quantisations = ['q4_k_m']\n" + CONFIG)
    result = cli("publish", str(tiny_model[1]), cwd=trainer)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"hubship: error: unknown key 'quantisations' in {trainer / 'hubship.toml'}; known keys:"
    )
    assert not (trainer / "from-config").exists()


@pytest.mark.skipif(importlib.util.find_spec("unsloth") is not None, reason="unsloth is installed here")
def test_backend_unsloth_without_gpu_or_unsloth_is_one_clear_line(tiny_model, cli, tmp_path):
    result = cli("publish", str(tiny_model[1]), "-f", "merged-16bit", "--backend", "unsloth", "--to", f"dir:{tmp_path}", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hubship: error: --backend unsloth needs ") and "use --backend hf" in lines[0]
