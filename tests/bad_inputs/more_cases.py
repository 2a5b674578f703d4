"""More of the bad-input corpus (test_bad_inputs.py runs them): publish names that would escape or break a
destination, and the importance-matrix options (calibration text, imatrix files)."""

from __future__ import annotations

from pathlib import Path


def _name_escaping_the_destination(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "-n", "../../escaped"], "invalid --name '../../escaped': it holds a path separator"


def _name_with_a_backslash(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "-n", "..\\escaped"], "it holds a path separator"


def _name_dot_dot(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "-n", ".."], "invalid --name '..': it holds '..'"


def _name_with_spaces(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "-n", "my model"], "use letters, digits, '.', '_' and '-'"


def _name_a_windows_device(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "-n", "aux"], "it is a device name on Windows"


def _name_not_a_hub_repo_name(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "-n", "smol--bot", "--to", "hf:alice/smol"], "the Hub allows no '--' or '..'"


def _name_too_long_for_ollama(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-n", "x" * 81, "--to", "ollama:bot"], "Ollama allows at most 80 characters"


def _calibration_not_jsonl(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "calib.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": [oops\n')
    return [str(ckpt), "-f", "gguf-q2_k", "--calibration", str(tmp / "calib.jsonl")], "calib.jsonl line 2 is not JSON"


def _calibration_missing(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "gguf-q2_k", "--calibration", str(tmp / "no-such.txt")], "cannot read calibration file"


def _calibration_rejected_by_template(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "chat_template.jinja").write_text("{{ raise_exception('only user turns') if messages[-1].role != 'user' }}x")
    line = '{"messages": [{"role": "user", "content": "%s"}, {"role": "assistant", "content": "ok"}]}\n' % ("word " * 300)
    (tmp / "calib.jsonl").write_text(line)
    return [str(ckpt), "-f", "gguf-q2_k", "--calibration", str(tmp / "calib.jsonl")], "rejects --calibration conversation 1"


def _imatrix_file_missing(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "gguf-iq2_xs", "--imatrix", str(tmp / "no-such.imatrix.gguf")], "does not exist"


def _imatrix_not_an_imatrix(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "fake.imatrix.gguf").write_bytes(b"GGUF" + bytes(range(256)) * 4)
    return [str(ckpt), "-f", "gguf-iq2_xs", "--imatrix", str(tmp / "fake.imatrix.gguf")], "is not an imatrix file llama.cpp reads"


def _iq2_with_imatrix_off(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "gguf-iq2_xs", "--imatrix", "off"], "cannot be made without an importance matrix"
