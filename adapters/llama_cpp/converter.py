"""Converter through llama.cpp's own `convert_hf_to_gguf.py` and `convert_lora_to_gguf.py`, run as a subprocess.

The scripts, their `conversion/` package and `gguf-py/` are taken from the llama-cpp-python source
package of the installed llama-cpp-python version, so the converter and the library that quantizes
and verifies are one llama.cpp commit (docs/adr/002-gguf-converter.md). `make setup` installs them
into the virtual environment with `python -m hubship.adapters.llama_cpp.install install` (install.py);
nothing is fetched or compiled at publish time. The PyPI `gguf` package is never installed: the
subprocess finds the matching `gguf-py` on its PYTHONPATH.

A model without multi-token-prediction weights (transformers drops Qwen3.5's `mtp.*` at load) is converted as with
`--no-mtp` where the converter's class for it exports MTP layers (it asserts them otherwise); its LoRA too, whose
converter has no such option. A failed preflight
names its cause: the tokenizer only when the converter failed reading it (conversion_facts.py).
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

from hubship.adapters.llama_cpp.conversion_facts import has_mtp_weights, has_vision_tower, preflight_refusal, restored_tokenizer_config
from hubship.adapters.llama_cpp.converter_process import ConverterProcesses
from hubship.adapters.llama_cpp.converter_scripts import CONVERT, SPLIT, overrides
from hubship.adapters.llama_cpp.install import installed_home, library_version
from hubship.domain.errors import PublishError, UserInputError
from hubship.domain.gguf_tokenizer import DEFAULT_SETTINGS, TokenizerSettings
from hubship.ports.progress import Progress

CHECKED_DIR = "passed-checks"  # the vocab-only GGUF of each (config, tokenizer, version) that converted
_PERCENT = re.compile(rb"(\d{1,3})%\|")
_UNSUPPORTED = re.compile(r"Model (\S+) is not supported")
_EXCEPTION = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")


class _ConverterFailed(PublishError):
    """A converter run that exited non-zero, with its output's last lines."""

    def __init__(self, message: str, lines: Sequence[str]) -> None:
        super().__init__(message)
        self.lines = tuple(lines)


def _place(src: Path, dst: Path) -> None:
    """Link `src` at `dst` (symlink, else hard link, else copy); a tokenizer_config.json that transformers 5 wrote
    gets its `added_tokens_decoder` back (conversion_facts.restored_tokenizer_config)."""
    if src.name == "tokenizer_config.json" and (restored := restored_tokenizer_config(src.parent)) is not None:
        dst.write_text(restored, encoding="utf-8")
        return
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


@contextlib.contextmanager
def _view(source: Path, name: str, readme: str, near: Path) -> Iterator[Path]:
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
            raise _ConverterFailed(f"{description} failed in llama.cpp's converter: {_reason(lines)}", lines)
        return list(tail)

    def _convert(
        self,
        script: str,
        model_dir: Path,
        args: Sequence[str],
        progress: Progress,
        description: str,
        settings: TokenizerSettings,
        config_dir: Path | None = None,
    ) -> list[str]:
        """`python SCRIPT MODEL_DIR ARGS` through converter_scripts.CONVERT: no MTP layers when the model (`config_dir`'s,
        a LoRA's base; else MODEL_DIR's) has no MTP weights, the tokenizer settings written into the GGUF."""
        config_dir = config_dir or model_dir
        no_mtp = "0" if has_mtp_weights(config_dir) else "1"
        wrapped = ["-c", CONVERT, script, str(model_dir), str(config_dir), no_mtp, overrides(settings)]
        return self._run([*wrapped, *args], progress, description)

    def check(self, config_dir: Path, tokenizer_dir: Path, *, settings: TokenizerSettings = DEFAULT_SETTINGS) -> Path:
        """A vocab-only conversion, kept (by the inputs' bytes, the tokenizer settings and the converter's version) so a
        re-run of the same checkpoint skips it; returns that vocab-only GGUF."""
        inputs = [config_dir / "config.json", *sorted(p for p in tokenizer_dir.iterdir() if p.is_file())]
        model_name = settings.gguf_name("model")  # the name the converter gives the folder below, or the phi3 rule's
        salt = b"\0added-tokens-restored\0" + overrides(settings).encode() + model_name.encode()
        digest = hashlib.sha256(library_version().encode() + salt)
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
            try:
                args = ["--vocab-only", "--outfile", str(root / "vocab.gguf"), "--model-name", model_name]
                self._convert("convert_hf_to_gguf.py", view, args, _Quiet(), "GGUF preflight", settings)
            except _ConverterFailed as exc:
                reason = exc.message.split(": ", 1)[-1]
                raise UserInputError(preflight_refusal(reason, exc.lines, config_dir, tokenizer_dir, library_version())) from None
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
        settings: TokenizerSettings = DEFAULT_SETTINGS,
    ) -> None:
        with _view(model_dir, name, _front_matter(name, base_model, license), out_file.parent) as view:
            args = ["--outtype", outtype, "--outfile", str(out_file.absolute()), "--model-name", settings.gguf_name(name)]
            self._convert("convert_hf_to_gguf.py", view, args, progress, f"convert to GGUF ({outtype})", settings)

    def convert_projector(
        self, model_dir: Path, out_file: Path, *, outtype: str, name: str, base_model: str | None, license: str | None, progress: Progress
    ) -> bool:
        if not has_vision_tower(model_dir):
            return False
        with _view(model_dir, name, _front_matter(name, base_model, license), out_file.parent) as view:
            args = ["--mmproj", "--outtype", outtype, "--outfile", str(out_file.absolute()), "--model-name", name]
            description = f"convert the vision projector to GGUF ({outtype})"
            self._convert("convert_hf_to_gguf.py", view, args, progress, description, DEFAULT_SETTINGS)
        return True

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
            args = ["--base", str(base_dir.absolute()), "--outtype", outtype, "--outfile", str(out_file.absolute())]
            description = f"convert LoRA adapter to GGUF ({outtype})"
            self._convert("convert_lora_to_gguf.py", view, args, progress, description, DEFAULT_SETTINGS, base_dir.absolute())

    def split(self, gguf_file: Path, max_bytes: int, progress: Progress) -> tuple[Path, ...]:
        lines = self._run(["-c", SPLIT, str(gguf_file.absolute()), str(max_bytes)], progress, f"split {gguf_file.name}")
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
