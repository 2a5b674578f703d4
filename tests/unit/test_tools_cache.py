"""The llama.cpp tools build is kept in the user's cache: a new virtual environment copies it instead of compiling."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubship.adapters.llama_cpp import install, tools_build


def _fake_build(folder: Path, version: str, product: tools_build.Product = tools_build.TOOLS) -> None:
    (folder / "bin").mkdir(parents=True)
    for name in product.targets:
        tools_build.tool_path(folder, name).write_bytes(name.encode())
    (folder / tools_build.VERSION_FILE).write_text(version + "\n")


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv(tools_build.TOOLS_ENV, str(tmp_path / "venv" / "tools"))
    monkeypatch.setenv(tools_build.SERVER_ENV, str(tmp_path / "venv" / "server"))
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


def _refusing_fetch(fetched: list[Path]):
    def fetch(folder: Path) -> Path:
        fetched.append(folder)
        raise tools_build.PublishError("no network in this test")

    return fetch


def test_the_server_has_its_own_cache_key_beside_the_tools(homes: tuple[Path, Path]) -> None:
    _, cache = homes
    server = tools_build.cached_build("1.0", tools_build.SERVER)
    assert server.parent == cache / "llama-cpp-server"
    assert server.name != tools_build.cached_build("1.0").name  # its own options and target
    assert server != tools_build.cached_build("1.1", tools_build.SERVER)


def test_a_cached_server_is_copied_and_the_tools_are_left_alone(homes: tuple[Path, Path]) -> None:
    home, _ = homes
    _fake_build(tools_build.cached_build("9.9.9", tools_build.SERVER), "9.9.9", tools_build.SERVER)

    found, seconds = tools_build.build("9.9.9", _refusing_fetch([]), product=tools_build.SERVER)

    assert found == tools_build.tools_home(tools_build.SERVER) and seconds == 0.0
    assert tools_build.built_version(found, tools_build.SERVER) == "9.9.9"
    assert tools_build.tool_path(found, "llama-server").read_bytes() == b"llama-server"
    assert not home.exists() and tools_build.built_version(found) is None  # the server folder is not a tools folder


def test_cached_tools_do_not_stand_for_the_server(homes: tuple[Path, Path]) -> None:
    """The tools' cache (kept valid by the server's separate key) holds no llama-server: the server is built."""
    _fake_build(tools_build.cached_build("2.0"), "2.0")
    assert tools_build.build("2.0", _refusing_fetch([]))[1] == 0.0  # the tools come from their cache
    fetched: list[Path] = []
    with pytest.raises(tools_build.PublishError):
        tools_build.build("2.0", _refusing_fetch(fetched), product=tools_build.SERVER)
    assert fetched


def test_a_missing_server_is_one_line_naming_make_setup(homes: tuple[Path, Path]) -> None:
    with pytest.raises(tools_build.UserInputError) as missing:
        tools_build.installed_tools("1.0", tools_build.SERVER)
    assert "llama-server" in str(missing.value) and "`make setup`" in str(missing.value) and "\n" not in str(missing.value)


def test_the_server_build_asks_for_no_web_ui(homes: tuple[Path, Path]) -> None:
    """No npm build and no download of the prebuilt UI (tools/ui/CMakeLists.txt, scripts/ui-assets.cmake); the
    tools' own options are those they were cached under before the server existed."""
    assert {"-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_BUILD_SERVER=ON"} <= set(tools_build.SERVER.options)
    assert "-DLLAMA_BUILD_SERVER=OFF" in tools_build.TOOLS.options and tools_build.TOOLS.options == tools_build.CMAKE_OPTIONS


def test_install_server_is_what_make_setup_runs(homes: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    version = install.library_version()
    _fake_build(tools_build.cached_build(version, tools_build.SERVER), version, tools_build.SERVER)

    assert install.main(["server"]) == 0

    assert "llama-server from llama-cpp-python" in capsys.readouterr().out
    assert tools_build.installed_tools(version, tools_build.SERVER) == tools_build.tools_home(tools_build.SERVER)
    assert not homes[0].exists()  # the tools were not touched
