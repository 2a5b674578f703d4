"""The bad-input corpus: each case exits 2 with one stderr line naming the problem, no traceback, and
nothing written to any destination (no folder, no workspace artifact, no Hub repo).

The CLI runs in-process (`hubship.entrypoints.cli.main(argv)`) to keep the corpus fast; two cases run
as a user does, in a subprocess with a clean environment.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from hubship.entrypoints import cli
from tests.bad_inputs import more_cases

Case = Callable[[Path, Path], tuple[list[str], str]]  # (checkpoint copy, tmp) -> (publish args, expected text)


def safetensors(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + payload


def adapter_with(ckpt: Path, value: float) -> None:
    """Replace one element of the adapter's first F32 tensor with `value` (NaN, inf...)."""
    path = ckpt / "adapter_model.safetensors"
    data = bytearray(path.read_bytes())
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    first = next(m for k, m in sorted(header.items()) if k != "__metadata__" and m["dtype"] == "F32")
    start = 8 + length + first["data_offsets"][0]
    data[start : start + 4] = struct.pack("<f", value)
    path.write_bytes(bytes(data))


def edit_config(ckpt: Path, **changes: object) -> None:
    config = json.loads((ckpt / "adapter_config.json").read_text())
    config.update(changes)
    (ckpt / "adapter_config.json").write_text(json.dumps(config))


def _not_a_checkpoint(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "empty").mkdir()
    return [str(tmp / "empty"), "-f", "lora"], "holds no checkpoint: looked for adapter_config.json (a LoRA adapter)"


def _checkpoint_is_a_file(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt / "adapter_config.json"), "-f", "lora"], "is not a folder"


def _checkpoint_missing(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(tmp / "nowhere"), "-f", "lora"], "is not a folder"


def _invalid_json_config(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "adapter_config.json").write_text('{"peft_type": "LORA", r: 8')
    return [str(ckpt), "-f", "lora"], "adapter_config.json in"


def _config_not_an_object(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "adapter_config.json").write_text("[1, 2, 3]")
    return [str(ckpt), "-f", "lora"], "is not a JSON object"


def _truncated_safetensors(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    path = ckpt / "adapter_model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return [str(ckpt), "-f", "lora"], "adapter_model.safetensors"


def _corrupt_safetensors(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}" + os.urandom(64))
    return [str(ckpt), "-f", "lora"], "is not a readable safetensors file"


def _zero_byte_safetensors(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "adapter_model.safetensors").write_bytes(b"")
    return [str(ckpt), "-f", "lora"], "is not a readable safetensors file"


def _pickle_only(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "adapter_model.safetensors").rename(ckpt / "adapter_model.bin")
    return [str(ckpt), "-f", "lora"], "adapter_model.bin is a pickle"


def _empty_adapter(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (ckpt / "adapter_model.safetensors").write_bytes(safetensors({"__metadata__": {"format": "pt"}}, b""))
    return [str(ckpt), "-f", "lora"], "the adapter is empty"


def _nan_weights(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    adapter_with(ckpt, float("nan"))
    return [str(ckpt), "-f", "lora"], "NaN or infinite"


def _inf_weights(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    adapter_with(ckpt, float("-inf"))
    return [str(ckpt), "-f", "lora"], "NaN or infinite"


def _missing_base(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--base", str(tmp / "no-such-base")], "does not exist"


def _base_not_in_cache(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    edit_config(ckpt, base_model_name_or_path="nobody/never-downloaded")
    return [str(ckpt), "-f", "lora"], "is not in the local Hugging Face cache"


def _no_base_named(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    edit_config(ckpt, base_model_name_or_path=None)
    return [str(ckpt), "-f", "lora"], "names no base_model_name_or_path"


def _mismatched_base(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    base = Path(json.loads((ckpt / "adapter_config.json").read_text())["base_model_name_or_path"])
    other = tmp / "other-base"
    shutil.copytree(base, other)
    config = json.loads((other / "config.json").read_text())
    config["num_hidden_layers"] = 1  # the adapter targets layer 1 too
    (other / "config.json").write_text(json.dumps(config))
    path = other / "model.safetensors"
    data = path.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + length])
    kept = {k: v for k, v in header.items() if ".layers.1." not in k}
    path.write_bytes(safetensors(kept, data[8 + length :]))
    return [str(ckpt), "-f", "lora", "--base", str(other)], "which base model"


def _base_without_config(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    base = Path(json.loads((ckpt / "adapter_config.json").read_text())["base_model_name_or_path"])
    other = tmp / "configless-base"
    shutil.copytree(base, other)
    (other / "config.json").unlink()
    return [str(ckpt), "-f", "lora", "--base", str(other)], "has no config.json"


def _unsupported_peft_type(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    edit_config(ckpt, peft_type="IA3")
    return [str(ckpt), "-f", "merged-16bit"], "IA3"


def _unknown_format(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora,safetensors-8bit"], "unknown format 'safetensors-8bit'"


def _unknown_quant(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "gguf-q9_z"], "unknown format 'gguf-q9_z'"


def _unknown_bnb_quant(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "merged-4bit", "--bnb-quant-type", "int3"], "int3"


def _unknown_dtype(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "merged-16bit", "--dtype", "fp8"], "fp8"


def _bad_shard_size(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "merged-16bit", "--max-shard-size", "lots"], "invalid size 'lots'"


def _bad_threshold(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "merged-16bit", "--threshold", "merged-16bit.mean_kl"], "threshold"


def _unknown_method(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--method", "telepathy"], "telepathy"


def _malformed_destination(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--to", "s3:bucket/x"], "s3:bucket/x"


def _destination_without_scheme(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--to", "published"], "malformed destination"


def _invalid_repo_id(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--to", "hf:alice/bad name!"], "alice/bad name!"


def _repo_id_without_owner(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--to", "hf:just-a-name"], "just-a-name"


def _invalid_ollama_name(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "--to", "ollama:Bad Name!!"], "Bad Name!!"


def _workspace_is_a_file(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "ws-file").write_text("not a folder")
    return [str(ckpt), "-f", "lora", "--workspace", str(tmp / "ws-file")], "is a file, not a folder"


def _unwritable_workspace(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    return [str(ckpt), "-f", "lora", "--workspace", "/proc/hubship-workspace"], "/proc/hubship-workspace"


def _destination_is_a_file(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "dest-file").write_text("not a folder")
    return [str(ckpt), "-f", "lora", "--to", f"dir:{tmp / 'dest-file'}"], "is a file, not a folder"


def _destination_under_a_file(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    (tmp / "dest-file").write_text("not a folder")
    return [str(ckpt), "-f", "lora", "--to", f"dir:{tmp / 'dest-file' / 'sub'}"], "is a file, not a folder"


def _symlink_out_of_checkpoint(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    outside = tmp / "elsewhere" / "tokenizer.json"
    outside.parent.mkdir()
    shutil.move(ckpt / "tokenizer.json", outside)
    (ckpt / "tokenizer.json").symlink_to(outside)
    return [str(ckpt), "-f", "lora"], "symlink pointing outside the checkpoint"


def _adapter_symlink_out_of_checkpoint(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    outside = tmp / "elsewhere.safetensors"
    shutil.move(ckpt / "adapter_model.safetensors", outside)
    (ckpt / "adapter_model.safetensors").symlink_to(outside)
    return [str(ckpt), "-f", "lora"], "symlink pointing outside the checkpoint"


def _non_utf8_file_name(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    fd = os.open(os.fsencode(ckpt) + b"/notes-\xff\xfe.txt", os.O_WRONLY | os.O_CREAT, 0o644)  # a Latin-1 tool's file
    os.write(fd, b"notes")
    os.close(fd)
    return [str(ckpt), "-f", "lora"], "is not valid UTF-8"


def _non_utf8_folder_name(ckpt: Path, tmp: Path) -> tuple[list[str], str]:
    renamed = os.fsencode(tmp) + b"/run-\xe9t\xe9"  # a Latin-1 "run-été": the publish name comes from it
    os.rename(os.fsencode(ckpt), renamed)
    return [os.fsdecode(renamed), "-f", "lora"], "not valid UTF-8"


def cases_in(namespace: dict[str, object]) -> dict[str, Case]:
    """Every `_case_name` function of a module's namespace, as "case-name"."""
    return {name[1:].replace("_", "-"): fn for name, fn in list(namespace.items()) if name[:1] == "_" and name[1:2] != "_" and callable(fn)}


CASES: dict[str, Case] = cases_in(globals()) | cases_in(vars(more_cases))


def assert_refused(argv: list[str], expected: str, tmp_path: Path, capsys) -> None:
    """`hubship publish ARGV` (to tmp/dest and a tmp/ws workspace unless ARGV names its own) exits 2 with one
    stderr line holding `expected`, no traceback, and writes nothing: no destination folder, no workspace artifact."""
    to = [] if "--to" in argv else ["--to", f"dir:{tmp_path / 'dest'}"]
    ws = [] if "--workspace" in argv else ["--workspace", str(tmp_path / "ws")]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main(["publish", *argv, *to, *ws, "-q"])
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hubship: error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "dest").exists() and not (tmp_path / "published").exists()
    assert not any((tmp_path / "ws" / "artifacts").glob("*"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case: str, checkpoint_copy: Path, tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default destination would be ./published
    args, expected = CASES[case](checkpoint_copy, tmp_path)
    assert_refused(args, expected, tmp_path, capsys)
