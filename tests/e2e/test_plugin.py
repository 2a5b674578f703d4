"""A format added from outside: the example package in docs/examples/ is pip-installed and publishes `merged-8bit`.

It is installed into a private folder put on PYTHONPATH for the CLI subprocess, so the shared
environment stays clean for every other test; hubship's own code is not touched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli

PLUGIN = REPO / "docs" / "examples" / "hubship-merged-8bit"
HUBSHIP_CODE = ("domain", "ports", "application", "adapters", "entrypoints")


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The plugin, pip-installed (no deps, no build isolation) into a private site folder; built from a copy."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, root / "src")  # the build writes egg-info beside the sources: keep docs/ clean
    site = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return site


def test_hubship_itself_knows_nothing_of_merged_8bit():
    for layer in HUBSHIP_CODE:
        for path in (REPO / layer).rglob("*.py"):
            assert "merged-8bit" not in path.read_text() and "merged_8bit" not in path.read_text(), path
    assert "merged-8bit" not in (REPO / "pyproject.toml").read_text()


@pytest.mark.slow
def test_installed_plugin_publishes_merged_8bit(plugin_site, tiny_model, tmp_path):
    checkpoint = tiny_model[1]
    args = ["publish", str(checkpoint), "-f", "merged-8bit", "--to", f"dir:{tmp_path / 'out'}", "--workspace", str(tmp_path / "ws")]
    without = run_cli(*args, "--name", "tiny", cwd=tmp_path)
    assert without.returncode == 2 and "unknown format 'merged-8bit'" in without.stderr

    result = run_cli(*args, "--name", "tiny", "--json", cwd=tmp_path, env={"PYTHONPATH": str(plugin_site)})
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "tiny" / "merged-8bit"
    config = json.loads((folder / "config.json").read_text())
    assert config["quantization_config"]["load_in_8bit"] is True
    with (folder / "model.safetensors").open("rb") as fh:
        header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
    q_proj = header["model.layers.0.self_attn.q_proj.weight"]
    assert q_proj["dtype"] == "I8"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["built_from"].keys() == {"merged-16bit"}
    assert manifest["verification"]["passed"] and manifest["verification"]["metrics"]["top1_agreement"] >= 0.5
    card = (folder / "README.md").read_text()
    assert "base_model_relation: quantized" in card and "top1_agreement" in card
