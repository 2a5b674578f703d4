"""Bad inputs among real checkpoints (tests/support/checkpoints.py): a quantized base whose quant state is missing or
corrupt, a full fine-tune with truncated or pickled weights, an empty run folder, a checkpoint choice that is not
there, and formats that cannot be built from what was trained. Each exits 2 with one line and writes nothing."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_inputs.test_bad_inputs import assert_refused, safetensors

Case = Callable[[dict[str, Path], Path], tuple[list[str], str]]  # (real checkpoints, tmp) -> (publish args, expected text)
WEIGHT = "model.layers.0.mlp.up_proj.weight"


def edited_base(real: dict[str, Path], tmp: Path, variant: str, edit: Callable[[dict, bytearray, int], None]) -> list[str]:
    """The QLoRA checkpoint of `variant` with --base a copy of its quantized base whose model.safetensors `edit`
    changed (header dict, payload bytes, data start), as publish arguments."""
    base = shutil.copytree(real[f"base-{variant}"], tmp / "broken-base")
    path = base / "model.safetensors"
    data = path.read_bytes()
    length = struct.unpack("<Q", data[:8])[0]
    header, payload = json.loads(data[8 : 8 + length]), bytearray(data[8 + length :])
    edit(header, payload, 8 + length)
    path.write_bytes(safetensors(header, bytes(payload)))
    return [str(real[f"qlora-{variant}"]), "-f", "lora", "--base", str(base)]


def _missing_quant_state(real, tmp):
    def drop(header, payload, start):
        del header[f"{WEIGHT}.quant_state.bitsandbytes__nf4"]

    return edited_base(real, tmp, "nf4", drop), f"{WEIGHT} in model.safetensors has no quant state (quant_state.bitsandbytes__nf4/fp4)"


def _corrupt_quant_state(real, tmp):
    def garble(header, payload, start):
        begin, end = header[f"{WEIGHT}.quant_state.bitsandbytes__nf4"]["data_offsets"]
        payload[begin:end] = b"\xff" * (end - begin)

    return edited_base(real, tmp, "nf4", garble), "has a corrupt quant state"


def _missing_nested_absmax(real, tmp):
    def drop(header, payload, start):
        del header[f"{WEIGHT}.nested_absmax"]

    return edited_base(real, tmp, "nf4-dq", drop), "an incomplete quant state (no nested_absmax)"


def _missing_int8_scales(real, tmp):
    def drop(header, payload, start):
        del header["model.layers.0.mlp.up_proj.SCB"]

    return edited_base(real, tmp, "int8", drop), "has no row scales (SCB)"


def _gptq_base(real, tmp):
    base = shutil.copytree(real["base-nf4"], tmp / "gptq-base")
    config = json.loads((base / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (base / "config.json").write_text(json.dumps(config))
    return [str(real["qlora-nf4"]), "-f", "lora", "--base", str(base)], "is quantized with gptq, which hubship cannot dequantize"


def _full_checkpoint_truncated(real, tmp):
    run = shutil.copytree(real["full"], tmp / "run", ignore=shutil.ignore_patterns("checkpoint-*"))
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size - 4096])
    return [str(run), "-f", "model-16bit"], "model.safetensors is truncated"


def _full_checkpoint_pickled(real, tmp):
    run = shutil.copytree(real["full"], tmp / "run", ignore=shutil.ignore_patterns("checkpoint-*"))
    (run / "model.safetensors").rename(run / "pytorch_model.bin")  # stands for a pickle: hubship must not open it
    return [str(run), "-f", "model-16bit"], "hubship never unpickles; re-save the model with save_pretrained(..., safe_serialization=True)"


def _empty_run_folder(real, tmp):
    (tmp / "outputs" / "runs").mkdir(parents=True)  # what a run leaves before its first save
    return [str(tmp / "outputs"), "-f", "lora"], "holds no checkpoint: looked for adapter_config.json (a LoRA adapter), config.json"


def _no_best_checkpoint(real, tmp):
    return [str(real["qlora-nf4"]), "-f", "lora", "--checkpoint", "best"], "records no best_model_checkpoint"


def _no_such_step(real, tmp):
    return [str(real["full"]), "-f", "model-16bit", "--checkpoint", "3"], "has no checkpoint-3; it has checkpoint-2, checkpoint-4"


def _gguf_lora_of_a_qlora_adapter(real, tmp):
    return [str(real["qlora-nf4"]), "-f", "gguf-lora"], "gguf-lora of an adapter trained on a quantized base (bitsandbytes nf4)"


def _lora_of_a_full_fine_tune(real, tmp):
    return [str(real["full"]), "-f", "lora,merged-16bit"], "lora publishes an adapter, and"


def _upstream_base_of_a_full_fine_tune_not_there(real, tmp):
    return [str(real["full"]), "-f", "model-16bit", "--base", str(tmp / "no-such-model")], "does not exist; pass --base with"


def _merge_onto_a_quantized_model(real, tmp):
    return [str(real["qlora-nf4"]), "-f", "merged-16bit", "--merge-onto", str(real["base-int8"])], "is quantized (bitsandbytes int8)"


def _merge_onto_for_a_full_fine_tune(real, tmp):
    return [str(real["full"]), "-f", "model-16bit", "--merge-onto", str(real["base-nf4"])], "is a full fine-tune, which has none"


def _base_model_id_not_an_id(real, tmp):
    return [str(real["full"]), "-f", "model-16bit", "--base-model-id", "tiny llama"], "--base-model-id 'tiny llama' is not a hub id"


CASES: dict[str, Case] = {name[1:].replace("_", "-"): fn for name, fn in list(globals().items()) if name[:1] == "_" and callable(fn)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_real_checkpoint_is_one_line_exit_2_and_writes_nothing(case, real_checkpoints, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args, expected = CASES[case](real_checkpoints, tmp_path)
    assert_refused(args, expected, tmp_path, capsys)
