"""install.py takes from the llama-cpp-python source package only what hubship uses: the converter, its packages,
the chat templates and the vocab-only tokenizer GGUFs the family tests build their models from."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from hubship.adapters.llama_cpp.install import HOME_ENV, complete, install, library_version

FILES = {
    "convert_hf_to_gguf.py": "# converter",
    "gguf-py/gguf/__init__.py": "",
    "models/templates/google-gemma-2-2b-it.jinja": "{{ bos_token }}",
    "models/ggml-vocab-phi-3.gguf": "GGUF",
    "models/ggml-vocab-phi-3.gguf.inp": "test text",  # llama.cpp's tokenizer test data: not needed
    "models/ggml-vocab-phi-3.gguf.out": "ids",
    "src/llama.cpp": "// C++: never extracted",
}


def _sdist(path: Path) -> Path:
    prefix = f"llama_cpp_python-{library_version()}/vendor/llama.cpp/"
    with tarfile.open(path, "w:gz") as tar:
        for name, text in FILES.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def test_install_takes_the_vocab_ggufs_but_not_their_test_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    home = install(_sdist(tmp_path / "llama_cpp_python.tar.gz"))
    found = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert found == [
        "LLAMA_CPP_PYTHON_VERSION",
        "convert_hf_to_gguf.py",
        "gguf-py/gguf/__init__.py",
        "gguf-py/gguf/py.typed",
        "models/ggml-vocab-phi-3.gguf",
        "models/templates/google-gemma-2-2b-it.jinja",
    ]
    assert complete(home, library_version())


def test_an_install_without_the_vocabularies_is_redone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    home = install(_sdist(tmp_path / "llama_cpp_python.tar.gz"))
    (home / "models" / "ggml-vocab-phi-3.gguf").unlink()  # as an install by an older hubship left it
    assert not complete(home, library_version())
    assert not complete(home, "0.0.1"), "another version's install"
