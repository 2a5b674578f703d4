"""llm-compressor's environment is found from disk alone (its interpreter and its dist-info folders), so a missing one
is refused at plan time in one line naming the extra, without starting a process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubship.adapters.llm_compressor.environment import HOME_ENV, env_home, env_python, installed_version, missing, tool_versions


def _venv(root: Path, *dists: str) -> Path:
    """A virtual environment's layout: its interpreter and a dist-info folder per `name-version`."""
    env_python(root).parent.mkdir(parents=True)
    env_python(root).write_text("")
    site = root / "lib" / "python3.11" / "site-packages"
    for dist in dists:
        (site / f"{dist}.dist-info").mkdir(parents=True)
    return root


def test_the_versions_come_from_the_dist_info_folders(tmp_path: Path) -> None:
    home = _venv(tmp_path / "env", "llmcompressor-0.14.0.1", "compressed_tensors-0.19.0")
    assert installed_version(home) == "0.14.0.1"
    assert installed_version(home, "compressed-tensors") == "0.19.0"
    assert installed_version(tmp_path / "nothing") is None
    assert installed_version(_venv(tmp_path / "bare")) is None, "an environment without llm-compressor"


def test_a_missing_environment_names_the_extra_and_make_setup(tmp_path: Path) -> None:
    reason = missing(_venv(tmp_path / "bare"))
    assert reason is not None and "hubship[vllm]" in reason and "make setup" in reason and "\n" not in reason
    assert missing(_venv(tmp_path / "env", "llmcompressor-0.14.0.1")) is None  # compressed-tensors is installed here


def test_the_environment_variable_moves_it_and_keys_the_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = _venv(tmp_path / "env", "llmcompressor-0.14.0.1", "compressed_tensors-0.19.0", "transformers-5.17.0", "torch-2.13.0+cpu")
    monkeypatch.setitem(os.environ, HOME_ENV, str(home))
    assert env_home() == home
    versions = tool_versions()
    assert versions["llmcompressor"] == "0.14.0.1" and versions["llmcompressor_compressed_tensors"] == "0.19.0"
    assert versions["llmcompressor_transformers"] == "5.17.0" and versions["llmcompressor_torch"] == "2.13.0+cpu"
    assert versions["compressed_tensors"]  # hubship's own, which verifies
    monkeypatch.setitem(os.environ, HOME_ENV, str(tmp_path / "none"))
    assert "llmcompressor" not in tool_versions()
