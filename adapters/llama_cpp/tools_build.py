"""Builds llama.cpp's `llama-imatrix`, `llama-quantize` and `llama-perplexity` (TOOLS), and its `llama-server`
(SERVER), and says where they are and whether they match the library.

They are compiled once, at set-up, from the `vendor/llama.cpp` of the llama-cpp-python source package of
the installed llama-cpp-python version (the same source the converter comes from, install.py), with
cmake (+ ninja when present), CPU only, static llama/ggml, no HTTPS, no tests, examples or server;
the binaries land in `<venv>/share/hubship/llama-cpp-tools/bin/` beside a stamp file holding that
version (docs/adr/012-imatrix.md). `python -m hubship.adapters.llama_cpp.install tools [SDIST]` (what
`make setup` runs) skips the build when the stamp matches.

A build is also kept in the user's cache folder ($HUBSHIP_BUILD_CACHE, else $XDG_CACHE_HOME/hubship or
~/.cache/hubship), keyed by the version, the build options and this CPU's instruction-set flags (the build
targets the CPU it runs on), so a fresh clone or a new virtual environment on the same machine copies the
29 MB of tools instead of compiling for ten minutes, as pip reuses the llama-cpp-python wheel it built.

`llama-server` (the chat proof runs llama.cpp's own Jinja engine and tokenizer through it, llama_server.py) is a
second product built the same way from the same source, with its own options, folder
(<venv>/share/hubship/llama-cpp-server, $HUBSHIP_LLAMA_SERVER) and cache key, so adding it left the tools' key as it
was. Its build leaves out the web UI: with LLAMA_BUILD_UI=OFF (no npm) and LLAMA_USE_PREBUILT_UI=OFF
(tools/ui/CMakeLists.txt, scripts/ui-assets.cmake) the asset step downloads nothing from the Hub bucket and embeds an
empty table; the server answers the API only. `... install server [SDIST]` builds it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hubship.domain.errors import PublishError, UserInputError

TOOLS_ENV = "HUBSHIP_LLAMA_CPP_TOOLS"
TARGETS = ("llama-imatrix", "llama-quantize", "llama-perplexity")
VERSION_FILE = "LLAMA_CPP_PYTHON_VERSION"
LOG_FILE = "build.log"
SKIPPED = ("models/", "docs/", "media/")  # vocab files, documentation and images: 120 MB the build does not read
CMAKE_OPTIONS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_SERVER=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_OPENSSL=OFF",  # no HTTPS: the tools read local files only (this llama.cpp has no LLAMA_CURL any more)
    "-DGGML_CUDA=OFF",
    "-DGGML_METAL=OFF",
    "-DGGML_VULKAN=OFF",
)
SERVER_ENV = "HUBSHIP_LLAMA_SERVER"
# The tools' options with the server's subfolders (tools/ui, tools/cli, tools/server) and no web UI assets.
SERVER_OPTIONS = (
    *(option for option in CMAKE_OPTIONS if option != "-DLLAMA_BUILD_SERVER=OFF"),
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_UI=OFF",  # no npm build of the web UI
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # no download of the prebuilt UI (the asset step's Hub bucket fetch)
)


@dataclass(frozen=True)
class Product:
    """What one build makes: its folder name, the variable that overrides its place, its targets and cmake options."""

    folder: str
    env: str
    targets: tuple[str, ...]
    options: tuple[str, ...]
    what: str  # for messages


TOOLS = Product("llama-cpp-tools", TOOLS_ENV, TARGETS, CMAKE_OPTIONS, "llama.cpp's tools (llama-imatrix, llama-quantize)")
SERVER = Product("llama-cpp-server", SERVER_ENV, ("llama-server",), SERVER_OPTIONS, "llama.cpp's llama-server")


def tools_home(product: Product = TOOLS) -> Path:
    """Where a product is: its variable ($HUBSHIP_LLAMA_CPP_TOOLS...), else <venv>/share/hubship/<its folder>."""
    override = os.environ.get(product.env)
    return Path(override) if override else Path(sys.prefix) / "share" / "hubship" / product.folder


def _cpu_flags() -> str:
    """This CPU's instruction-set flags (Linux), else the processor's name: what a native build depends on."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            return next((line.split(":", 1)[1].strip() for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def cached_build(version: str, product: Product = TOOLS) -> Path:
    """The user-cache folder for `product` of `version` built with its options on this kind of CPU."""
    root = os.environ.get("HUBSHIP_BUILD_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hubship"
    fingerprint = "\n".join([version, sys.platform, platform.machine(), *product.options, *product.targets, _cpu_flags()])
    return Path(root) / product.folder / f"{version}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:16]}"


def _install_from(source: Path, home: Path) -> None:
    """Copy a built tools folder to `home` through a staged folder renamed into place (never half a copy)."""
    staged = home.parent / f".{home.name}.staged"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(source, staged)
    if home.exists():
        shutil.rmtree(home)
    os.replace(staged, home)


def _keep_in_cache(home: Path, version: str, product: Product) -> None:
    """Best effort: a read-only or full cache folder only costs the next set-up a build."""
    try:
        cache = cached_build(version, product)
        cache.parent.mkdir(parents=True, exist_ok=True)
        _install_from(home, cache)
    except OSError:
        pass


def tool_path(home: Path, name: str) -> Path:
    return home / "bin" / (f"{name}.exe" if os.name == "nt" else name)


def built_version(home: Path, product: Product = TOOLS) -> str | None:
    """The llama-cpp-python version the binaries in `home` were built from; None when any is missing."""
    stamp = home / VERSION_FILE
    if not stamp.is_file() or not all(tool_path(home, t).is_file() for t in product.targets):
        return None
    return stamp.read_text().strip() or None


def installed_tools(library: str, product: Product = TOOLS) -> Path:
    """The product's folder, checked to hold every binary built from llama-cpp-python `library`."""
    home = tools_home(product)
    found = built_version(home, product)
    if found is None:
        raise UserInputError(f"{product.what}: not installed (looked in {home}); run `make setup`")
    if found != library:
        raise UserInputError(f"{product.what} in {home}: built from llama-cpp-python {found} but {library} is installed; run `make setup`")
    return home


def _which(program: str) -> str | None:
    """`program` on PATH, or in this Python's own bin folder (where `pip install cmake ninja` puts them)."""
    return shutil.which(program, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def _extract(sdist: Path, version: str, dest: Path) -> Path:
    """The sdist's vendor/llama.cpp, without what the build does not read."""
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:  # one pass over the compressed stream
        for member in tar:
            relative = member.name[len(prefix) :]
            if member.name.startswith(prefix) and relative and not relative.startswith(SKIPPED) and (member.isfile() or member.isdir()):
                member.name = relative
                tar.extract(member, dest, filter="data")
    if not (dest / "CMakeLists.txt").is_file():
        raise PublishError(f"{sdist.name} holds no vendor/llama.cpp/CMakeLists.txt for llama-cpp-python {version}")
    return dest


def _run(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise PublishError(f"`{command[0]} {command[1]}` failed ({tail[0].strip()}); the whole log is in {log}")


def build(
    version: str, fetch_sdist: Callable[[Path], Path], sdist: Path | None = None, *, force: bool = False, product: Product = TOOLS
) -> tuple[Path, float]:
    """Build `product` of llama-cpp-python `version` into `tools_home(product)`; (home, seconds spent, 0 when skipped).

    `fetch_sdist(folder) -> Path` downloads the source package when `sdist` is not given.
    """
    home, cache = tools_home(product), cached_build(version, product)
    if built_version(home, product) == version and sdist is None and not force:
        return home, 0.0
    if sdist is None and not force and built_version(cache, product) == version:
        home.parent.mkdir(parents=True, exist_ok=True)
        _install_from(cache, home)
        return home, 0.0
    cmake, ninja = _which("cmake"), _which("ninja")
    if cmake is None:
        raise UserInputError("cmake is not installed; install it (apt-get install cmake, or pip install cmake) and run `make setup`")
    start = time.perf_counter()
    home.parent.mkdir(parents=True, exist_ok=True)
    log = home.parent / f"{product.folder}-{LOG_FILE}"
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix=f".{product.folder}-", dir=home.parent) as tmp:
        source = _extract(sdist or fetch_sdist(Path(tmp)), version, Path(tmp) / "llama.cpp")
        out = Path(tmp) / "build"
        generator = ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"] if ninja else []
        _run([cmake, "-S", str(source), "-B", str(out), *generator, *product.options], log)
        jobs = ["--parallel", str(os.cpu_count() or 2)]
        _run([cmake, "--build", str(out), "--config", "Release", *jobs, "--target", *product.targets], log)
        staged = Path(tmp) / "home"
        (staged / "bin").mkdir(parents=True)
        for name in product.targets:
            built = next((p for p in (tool_path(out, name), tool_path(out / "bin" / "Release", name)) if p.is_file()), None)
            if built is None:
                raise PublishError(f"the build made no {name}; the whole log is in {log}")
            shutil.copy2(built, tool_path(staged, name))
        shutil.copy2(source / "LICENSE", staged / "LICENSE")
        (staged / VERSION_FILE).write_text(version + "\n")
        if home.exists():
            shutil.rmtree(home)
        os.replace(staged, home)
    _keep_in_cache(home, version, product)
    return home, time.perf_counter() - start
