"""The trainer wrappers: upload_model.sh run as a trainer runs it, and upload_model.ps1 kept in step with it.

PowerShell cannot run here, so the .ps1 is parsed and compared with the .sh: same Python search
(environment variable, the repository's .venv, then each OS's own name for Python 3: `python3` for sh,
the launcher `py -3` then `python` for PowerShell), same command, every argument forwarded, hubship's
exit code returned. The .sh is also run with stand-in Pythons to prove that behaviour.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SHELL = REPO / "entrypoints" / "shell"
EXAMPLES = REPO / "docs" / "examples"
ARGS = "<every argument>"
RECORDER = '#!/bin/sh\nprintf "%s\\n" "$0" "$@" > "$RECORD"\nexit 7\n'
SH_FALLBACK = ["python3"]
PS1_FALLBACK = ["py -3", "python"]  # Windows has no python3: the Python launcher, then python


def _order(code: str, **kinds: str) -> list[str]:
    """The kinds of Python lookup in the order the script tries them (`env`, `venv`, `fallback`)."""
    found = sorted((m.start(), kind) for kind, pattern in kinds.items() for m in re.finditer(pattern, code))
    return list(dict.fromkeys(kind for _, kind in found))


def parse_sh(text: str) -> dict[str, object]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    call = re.search(r'^exec "\$python" (.+)$', code, re.MULTILINE)
    return {
        "env": re.findall(r"\$\{(\w+):-\}", code),
        "levels_up": re.search(r'dirname "\$0"\)((?:/\.\.)*)"', code).group(1).count(".."),
        "venv": sorted(set(re.findall(r'"\$repo/([^"]+)"', code))),
        "fallback": re.findall(r'python="(\w+)"', code),
        "order": _order(code, env=r'-n "\$\{\w+:-\}"', venv=r'-x "\$repo/', fallback=r'python="\w+"'),
        "argv": [ARGS if t == "$@" else t for t in shlex.split(call.group(1))] if call else None,
        "exit": "exec" if call else None,
    }


def parse_ps1(text: str) -> dict[str, object]:
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    call = re.search(r"^& \$python (@launcher )?(.+)$", code, re.MULTILINE)
    launched = bool(call and call.group(1))  # the launcher's arguments (py's -3) reach it only through @launcher
    repo = re.search(r"^\$repo = (.+)$", code, re.MULTILINE).group(1)
    venv = {p.replace("Scripts/python.exe", "bin/python") for p in re.findall(r'Test-Path \(Join-Path \$repo "([^"]+)"\)', code)}
    return {
        "env": re.findall(r"\(\$env:(\w+)\)", code),
        "levels_up": repo.count("Split-Path -Parent") if "$PSScriptRoot" in repo else -1,
        "venv": sorted(venv),
        "fallback": [
            " ".join([name, *(re.findall(r'"([^"]+)"', launcher) if launched else ())])
            for name, launcher in re.findall(r'\$python = "(\w+)"(?:; \$launcher = @\(([^)]*)\))?', code)
        ],
        "order": _order(code, env=r"\(\$env:\w+\)", venv=r"Test-Path \(Join-Path \$repo", fallback=r'\$python = "\w+"'),
        "argv": [ARGS if t == "@args" else t for t in call.group(2).split()] if call else None,
        "exit": "exec" if call and re.search(r"^exit \$LASTEXITCODE$", code, re.MULTILINE) else None,
    }


def in_step(ps1: dict[str, object], sh: dict[str, object]) -> bool:
    """The same lookup and command, each with its own OS's names for Python 3 at the end."""
    same = {k: v for k, v in ps1.items() if k != "fallback"} == {k: v for k, v in sh.items() if k != "fallback"}
    return same and ps1["fallback"] == PS1_FALLBACK and sh["fallback"] == SH_FALLBACK


def test_ps1_wrapper_is_in_step_with_the_sh_wrapper():
    sh = parse_sh((SHELL / "upload_model.sh").read_text())
    ps1 = parse_ps1((SHELL / "upload_model.ps1").read_text())
    assert sh["argv"] == ["-m", "hubship", "publish", ARGS]
    assert sh["env"] == ["HUBSHIP_PYTHON"] and sh["venv"] == [".venv/bin/python"] and sh["fallback"] == SH_FALLBACK
    assert ps1["fallback"] == PS1_FALLBACK and ps1["order"] == ["env", "venv", "fallback"]
    assert "} elseif (Get-Command py -ErrorAction SilentlyContinue) {" in (SHELL / "upload_model.ps1").read_text()  # py only if there
    assert in_step(ps1, sh)
    for name in ("upload_model.sh", "upload_model.ps1"):
        assert len((SHELL / name).read_text().splitlines()) <= 25


def test_the_comparison_notices_a_ps1_that_drifted():
    text = (SHELL / "upload_model.ps1").read_text()
    sh = parse_sh((SHELL / "upload_model.sh").read_text())
    for drifted in (
        text.replace(" @args", ""),
        text.replace("publish", "plan"),
        text.replace("exit $LASTEXITCODE", "exit 0"),
        text.replace('"python"', '"python3"'),
        text.replace('@("-3")', "@()"),  # a bare `py` may start a Python 2
        text.replace("$env:HUBSHIP_PYTHON)", "$env:PYTHON)"),
        text.replace("& $python @launcher", "& $python"),
    ):
        assert drifted != text and not in_step(parse_ps1(drifted), sh)


def _fake_repo(tmp_path: Path) -> Path:
    """A copy of the wrapper in a repository-like tree, so its .venv lookup can be steered."""
    shell = tmp_path / "repo" / "entrypoints" / "shell"
    shell.mkdir(parents=True)
    shutil.copy(SHELL / "upload_model.sh", shell)
    return shell / "upload_model.sh"


def _recorder(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECORDER)
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("python", ["HUBSHIP_PYTHON", ".venv", "python3"])
def test_sh_wrapper_finds_python_forwards_every_argument_and_returns_its_code(python, tmp_path):
    wrapper = _fake_repo(tmp_path)
    env = {**os.environ, "RECORD": str(tmp_path / "argv.txt")}
    env.pop("HUBSHIP_PYTHON", None)
    if python == "HUBSHIP_PYTHON":
        expected = _recorder(tmp_path / "bin" / "my-python")
        env["HUBSHIP_PYTHON"] = str(expected)
    elif python == ".venv":
        expected = _recorder(tmp_path / "repo" / ".venv" / "bin" / "python")
    else:
        expected = _recorder(tmp_path / "path" / "python3")
        env["PATH"] = f"{expected.parent}{os.pathsep}{env['PATH']}"
    args = ["./outputs", "--to", "dir:my models/out", "", "--name=a b", "*"]
    result = subprocess.run(["sh", str(wrapper), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 7, result.stderr
    recorded = (tmp_path / "argv.txt").read_text().split("\n")[:-1]
    assert Path(recorded[0]).name == expected.name and recorded[1:] == ["-m", "hubship", "publish", *args]


def _trainer(example: str, checkpoint: Path, tmp_path: Path) -> Path:
    """A trainer-like folder: the example's wrappers and hubship.toml, the trainer's adapter in ./outputs."""
    folder = tmp_path / f"my-{example}"
    shutil.copytree(EXAMPLES / example, folder)
    shutil.copytree(checkpoint, folder / "outputs")
    return folder


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HUBSHIP_PYTHON"}
    env["HUBSHIP_HOME"] = str(REPO)
    if not (REPO / ".venv" / "bin" / "python").exists():  # the wrapper's own default is the repository's .venv
        env["HUBSHIP_PYTHON"] = sys.executable
    return env


def _card(folder: Path) -> str:
    cards = list(folder.glob("published/*/lora/README.md"))
    assert len(cards) == 1, cards
    return cards[0].read_text()


@pytest.mark.slow
def test_sft_trainer_publishes_through_the_sh_wrapper_in_one_line(tiny_model, tmp_path):
    folder = _trainer("sft-trainer", tiny_model[1], tmp_path)
    result = subprocess.run(
        ["sh", "upload.sh", "--format", "lora", "--workspace", str(tmp_path / "ws"), "--quiet"],
        cwd=folder,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    published = folder / "published" / "my-sft-trainer"
    assert sorted(p.name for p in published.iterdir()) == ["lora"]  # --format overrode hubship.toml's two formats
    card = _card(folder)
    assert "supervised fine-tuning (SFT)" in card and "training method: SFT" in card and "\n- sft\n" in card
    assert not any(p.is_symlink() for p in published.rglob("*"))  # the registry folder holds no symlinks (Windows)


@pytest.mark.slow
def test_kto_trainer_publishes_through_the_py_wrapper_and_its_card_says_kto(tmp_path_factory, tmp_path):
    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    _, checkpoint = HfDemoCheckpointFactory().create(tmp_path_factory.mktemp("kto"), dtype="float32", method="kto", layers=1)
    folder = _trainer("kto-trainer", checkpoint, tmp_path)
    (folder / "hubship.toml").write_text((folder / "hubship.toml").read_text().replace('method = "kto"', "# method: detected"))
    result = subprocess.run(
        [sys.executable, str(folder / "upload.py"), "-f", "lora", "--workspace", str(tmp_path / "ws"), "--json"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    card = _card(folder)
    assert "Kahneman-Tversky optimisation (KTO)" in card and "training method: KTO" in card and "\n- kto\n" in card
    assert '"training_method": "kto"' in result.stdout
