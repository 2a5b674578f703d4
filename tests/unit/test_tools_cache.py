"""The llama.cpp tools build is kept in the user's cache: a new virtual environment copies it instead of compiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubship.adapters.llama_cpp import tools_build


def _fake_build(folder: Path, version: str) -> None:
    (folder / "bin").mkdir(parents=True)
    for name in tools_build.TARGETS:
        tools_build.tool_path(folder, name).write_bytes(name.encode())
    (folder / tools_build.VERSION_FILE).write_text(version + "\n")


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv(tools_build.TOOLS_ENV, str(tmp_path / "venv" / "tools"))
    monkeypatch.setenv("HUBSHIP_BUILD_CACHE", str(tmp_path / "cache"))
    return tmp_path / "venv" / "tools", tmp_path / "cache"


def test_a_cached_build_is_copied_and_nothing_is_fetched_or_compiled(homes: tuple[Path, Path]) -> None:
    home, cache = homes
    assert tools_build.cached_build("9.9.9").is_relative_to(cache)
    _fake_build(tools_build.cached_build("9.9.9"), "9.9.9")

    def no_fetch(folder: Path) -> Path:
        raise AssertionError("a cached build must not fetch the source")

    found, seconds = tools_build.build("9.9.9", no_fetch)

    assert found == home and seconds == 0.0
    assert tools_build.built_version(home) == "9.9.9"
    assert tools_build.tool_path(home, "llama-quantize").read_bytes() == b"llama-quantize"
    assert not list(home.parent.glob(".*staged"))  # no staging folder left behind


def test_the_cache_key_follows_the_version(homes: tuple[Path, Path]) -> None:
    _, cache = homes
    assert tools_build.cached_build("1.0").parent == cache / "llama-cpp-tools"
    assert tools_build.cached_build("1.0") != tools_build.cached_build("1.1")


def test_a_cache_of_another_version_is_not_used(homes: tuple[Path, Path]) -> None:
    _fake_build(tools_build.cached_build("1.0"), "1.0")
    (tools_build.cached_build("1.0")).rename(tools_build.cached_build("2.0"))  # the folder of 2.0 holding a 1.0 build
    fetched: list[Path] = []

    def fetch(folder: Path) -> Path:
        fetched.append(folder)
        raise tools_build.PublishError("no network in this test")

    with pytest.raises(tools_build.PublishError):
        tools_build.build("2.0", fetch)
    assert fetched  # it went on to build (and fetch the source) instead of copying the stale cache
