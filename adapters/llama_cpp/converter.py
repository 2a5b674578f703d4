"""Converter through llama.cpp's own `convert_hf_to_gguf.py` and `convert_lora_to_gguf.py`, run as a subprocess.

The scripts, their `conversion/` package and `gguf-py/` are taken from the llama-cpp-python source
package of the installed llama-cpp-python version, so the converter and the library that quantizes
and verifies are one llama.cpp commit (docs/adr/002-gguf-converter.md). `make setup` installs them
into the virtual environment with `python -m hubship.adapters.llama_cpp.install install` (install.py);
nothing is fetched or compiled at publish time. The PyPI `gguf` package is never installed: the
subprocess finds the matching `gguf-py` on its PYTHONPATH.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from hubship.adapters.llama_cpp.converter_process import ConverterProcesses
from hubship.adapters.llama_cpp.gguf_kv import ADD_BOS, set_bool
from hubship.adapters.llama_cpp.install import installed_home, library_version
from hubship.domain.errors import PublishError, UserInputError
from hubship.ports.progress import Progress

CHECKED_DIR = "passed-checks"  # the vocab-only GGUF of each (config, tokenizer, version) that converted
_PERCENT = re.compile(rb"(\d{1,3})%\|")
_UNSUPPORTED = re.compile(r"Model (\S+) is not supported")
_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")
_SPLIT_SCRIPT = r"""
import json, sys
from pathlib import Path
import gguf

src, max_bytes = Path(sys.argv[1]), int(sys.argv[2])
reader = gguf.GGUFReader(src)
arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
writer = gguf.GGUFWriter(src, arch, split_max_size=max_bytes)
for field in reader.fields.values():
    if field.name in (gguf.Keys.General.ARCHITECTURE, gguf.Keys.General.ALIGNMENT) or field.name.startswith(("GGUF.", "split.")):
        continue
    kind = field.types[0]
    writer.add_key_value(field.name, field.contents(), kind, sub_type=field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None)
for tensor in reader.tensors:
    writer.add_tensor(tensor.name, tensor.data, raw_dtype=tensor.tensor_type)
shards = writer.format_shard_names(src)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file(progress=True)
writer.close()
print(json.dumps([str(s) for s in shards]))
"""


def _place(src: Path, dst: Path) -> None:
    """Link `src` at `dst` (symlink, else hard link, else copy)."""
    for link in (os.symlink, os.link):
        try:
            link(src.resolve(), dst)
            return
        except OSError:
            continue
    shutil.copyfile(src, dst)


def _front_matter(name: str, base_model: str | None, license: str | None) -> str:
    """A README the converter reads metadata from (JSON values are valid YAML)."""
    lines = ["---", f"model_name: {json.dumps(name)}"]
    if license:
        lines.append(f"license: {json.dumps(license)}")
    if base_model:
        entry = base_model if "/" in base_model else {"name": base_model}
        lines.append(f"base_model: {json.dumps([entry])}")
    return "\n".join([*lines, "---", "", f"# {name}", ""])


def _say_add_bos(view: Path, add_bos: bool | None) -> None:
    """Make the view's tokenizer_config.json say `add_bos_token`, so the converter writes that key (gguf-py's
    SpecialVocab takes it where tokenizer.json's post-processor is silent); `_set_add_bos` then sets its value."""
    config = view / "tokenizer_config.json"
    if add_bos is None or not config.exists():
        return
    data = json.loads(config.read_text(encoding="utf-8"))
    config.unlink()  # a link to the source: never write through it
    config.write_text(json.dumps({**data, "add_bos_token": add_bos}, ensure_ascii=False), encoding="utf-8")


def _set_add_bos(gguf_file: Path, add_bos: bool | None) -> None:
    """The BOS choice (domain.bos_choice) written into the GGUF; a converter that wrote no such key leaves llama.cpp's
    default, which the chat proof then measures against the choice."""
    if add_bos is not None:
        set_bool(gguf_file, ADD_BOS, add_bos)


@contextlib.contextmanager
def _view(source: Path, name: str, readme: str, near: Path, add_bos: bool | None = None) -> Iterator[Path]:
    """A temporary folder `name` inside `near` linking every file of `source` but its README.md, plus our README.md.

    The converter derives metadata (size label, fine-tune) from the folder's name, as for a user's own folder.
    """
    near = near.absolute()
    near.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gguf-view-", dir=near) as tmp:
        view = Path(tmp) / (re.sub(r"[^\w.-]+", "-", name).strip(".-") or "model")
        view.mkdir()
        for entry in sorted(source.iterdir()):
            if entry.is_file() and not entry.name.startswith(".") and entry.name != "README.md":
                _place(entry, view / entry.name)
        (view / "README.md").write_text(readme, encoding="utf-8")
        _say_add_bos(view, add_bos)
        yield view


def _reason(lines: Sequence[str]) -> str:
    """The most telling line of a failed converter run."""
    for line in reversed(lines):
        match = _EXCEPTION.match(line.strip())
        if match:
            return f"{match.group(1)}: {match.group(2)}"
    for line in reversed(lines):
        if line.startswith("ERROR:"):
            return line.split(":", 2)[-1].strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


def _env(home: Path) -> dict[str, str]:
    """The converter's environment: its `gguf-py` first on the path, offline, unbuffered UTF-8 output."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(home / "gguf-py"), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }


class LlamaCppConverter:
    """Runs llama.cpp's converter scripts from `install.installed_home()` with the current Python, in a process
    started ahead by `warm_up()` when there is one (converter_process)."""

    def __init__(self) -> None:
        self._processes = ConverterProcesses()

    def warm_up(self) -> None:
        home = installed_home()
        self._processes.warm_up(home, _env(home))

    def cool_down(self) -> None:
        self._processes.close()

    def _run(self, args: Sequence[str], progress: Progress, description: str) -> list[str]:
        """Run `python ARGS` in the converter's folder (a script name, or `-c CODE`, then absolute paths); stream its
        tqdm percentages into a progress bar; return its output lines."""
        home = installed_home()
        tail: collections.deque[str] = collections.deque(maxlen=400)
        done = 0
        with progress.task(description, total=100, unit="%") as task:
            proc = self._processes.start(args, home, _env(home))
            assert proc.stdout is not None
            pending = b""
            while chunk := proc.stdout.read1(65536):  # type: ignore[attr-defined]
                pieces = re.split(rb"[\r\n]", pending + chunk)
                pending = pieces.pop()
                for piece in pieces:
                    match = _PERCENT.search(piece)
                    if match and int(match.group(1)) > done:
                        task.advance(int(match.group(1)) - done)
                        done = int(match.group(1))
                    elif piece.strip():
                        tail.append(piece.decode("utf-8", "replace"))
            if pending.strip():
                tail.append(pending.decode("utf-8", "replace"))
            code = proc.wait()
            if code == 0 and done < 100:
                task.advance(100 - done)
        if code != 0:
            lines = list(tail)
            match = next((m for m in map(_UNSUPPORTED.search, lines) if m), None)
            if match:
                raise UserInputError(
                    f"llama.cpp's converter (llama-cpp-python {library_version()}) does not support architecture {match.group(1)};"
                    " GGUF formats cannot be built for this model (publish lora or merged-16bit instead)"
                )
            if any("pre-tokenizer was not recognized" in line for line in lines):
                raise UserInputError(
                    f"the checkpoint's tokenizer has a BPE pre-tokenizer that llama.cpp's converter (llama-cpp-python"
                    f" {library_version()}) does not recognize; GGUF formats cannot be built for it (publish lora or merged-16bit instead)"
                )
            raise PublishError(f"{description} failed in llama.cpp's converter: {_reason(lines)}")
        return list(tail)

    def check(self, config_dir: Path, tokenizer_dir: Path, *, add_bos: bool | None = None) -> Path:
        """A vocab-only conversion, kept (by the inputs' bytes, the BOS choice and the converter's version) so a re-run of
        the same checkpoint skips it; returns that vocab-only GGUF."""
        inputs = [config_dir / "config.json", *sorted(p for p in tokenizer_dir.iterdir() if p.is_file())]
        digest = hashlib.sha256(library_version().encode() + (b"" if add_bos is None else f"\0add_bos={add_bos}".encode()))
        for path in inputs:
            digest.update(f"\0{path.name}\0".encode() + path.read_bytes())
        name = f"{digest.hexdigest()}.gguf"
        for folder in (installed_home() / CHECKED_DIR, Path(tempfile.gettempdir()) / "hubship-gguf-vocab"):  # a stale converter fails here
            if (folder / name).is_file():
                return folder / name
        with tempfile.TemporaryDirectory(prefix="hubship-gguf-check-") as tmp:
            root = Path(tmp)
            view = root / "model"
            view.mkdir()
            for path in inputs:
                if not (view / path.name).exists():
                    _place(path, view / path.name)
            _say_add_bos(view, add_bos)
            try:
                self._run(
                    ["convert_hf_to_gguf.py", str(view), "--vocab-only", "--outfile", str(root / "vocab.gguf")], _Quiet(), "GGUF preflight"
                )
            except PublishError as exc:
                raise UserInputError(f"the checkpoint's tokenizer does not convert to GGUF: {exc.message.split(': ', 1)[-1]}") from None
            _set_add_bos(root / "vocab.gguf", add_bos)
            return _keep(root / "vocab.gguf", name)

    def convert(
        self,
        model_dir: Path,
        out_file: Path,
        *,
        outtype: str,
        name: str,
        base_model: str | None,
        license: str | None,
        progress: Progress,
        add_bos: bool | None = None,
    ) -> None:
        with _view(model_dir, name, _front_matter(name, base_model, license), out_file.parent, add_bos) as view:
            args = ["convert_hf_to_gguf.py", str(view), "--outtype", outtype, "--outfile", str(out_file.absolute()), "--model-name", name]
            self._run(args, progress, f"convert to GGUF ({outtype})")
        _set_add_bos(out_file, add_bos)

    def convert_lora(
        self,
        adapter_dir: Path,
        base_dir: Path,
        out_file: Path,
        *,
        outtype: str,
        name: str,
        base_model: str | None,
        license: str | None,
        progress: Progress,
    ) -> None:
        with _view(adapter_dir, name, _front_matter(name, base_model, license), out_file.parent) as view:
            args = ["convert_lora_to_gguf.py", str(view), "--base", str(base_dir.absolute()), "--outtype", outtype]
            self._run([*args, "--outfile", str(out_file.absolute())], progress, f"convert LoRA adapter to GGUF ({outtype})")

    def split(self, gguf_file: Path, max_bytes: int, progress: Progress) -> tuple[Path, ...]:
        lines = self._run(["-c", _SPLIT_SCRIPT, str(gguf_file.absolute()), str(max_bytes)], progress, f"split {gguf_file.name}")
        shards = tuple(Path(p) for p in json.loads(next(line for line in reversed(lines) if line.startswith("["))))
        if len(shards) > 1:
            gguf_file.unlink()
        return shards


def _keep(vocab: Path, name: str) -> Path:
    """Move a fresh vocab-only GGUF into the converter's folder (else, read-only, the temporary folder)."""
    for folder in (installed_home() / CHECKED_DIR, Path(tempfile.gettempdir()) / "hubship-gguf-vocab"):
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            staged = folder / f".{name}.{os.getpid()}"
            shutil.copyfile(vocab, staged)
            os.replace(staged, folder / name)
            return folder / name
    raise PublishError(f"cannot keep the vocab-only GGUF of the preflight (no writable folder for {name})")


class _Quiet:
    """A Progress that draws nothing (the preflight takes seconds)."""

    @contextlib.contextmanager
    def task(self, description: str, total: float | None = None, unit: str = "") -> Iterator[_Quiet]:
        yield self

    def advance(self, amount: float = 1) -> None:
        return None

    def message(self, text: str) -> None:
        return None
