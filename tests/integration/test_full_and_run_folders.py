"""Full fine-tunes and trainer run folders, as the HF Trainer really leaves them (tests/support/checkpoints.py):

- a full fine-tune publishes as the 16-bit model (re-sharded, `--dtype` honoured, the alias `model-16bit`), its 4-bit
  quantization and a GGUF, each measured against the checkpoint's own fp32 logits; its card says "full fine-tune of"
  the upstream; training_args.bin (a pickle) is never read nor published;
- a run folder publishes its final model, else its last checkpoint, or the one `--checkpoint best|N` names, and says
  which in one line and in `plan --json`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from hubship.application.publish_request import PublishRequest
from hubship.entrypoints import cli
from hubship.entrypoints.container import create_container
from tests.support.checkpoints import UPSTREAM, without_root_model

pytestmark = pytest.mark.slow


def hubship(capsys, *argv: str) -> dict[str, Any]:
    """`hubship ARGV --json` in this process: its JSON output."""
    capsys.readouterr()
    try:
        cli.main([*argv, "--json"])
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def cli_code(capsys, *argv: str) -> int:
    """`hubship ARGV` in this process: its exit code (its output stays in capsys)."""
    capsys.readouterr()
    try:
        cli.main(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def full_published(real_checkpoints, tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """The full fine-tune run published (its root's final model) as model-16bit (bf16), model-4bit and gguf-q8_0."""
    root = tmp_path_factory.mktemp("full")
    container = create_container({"workspace": root / "ws", "quiet": True})
    request = PublishRequest(
        checkpoint=str(real_checkpoints["full"]),
        formats=("model-16bit,model-4bit,gguf-q8_0",),
        destinations=(f"dir:{root / 'out'}",),
        options={"dtype": "bf16"},
    )
    result = container.execute_plan().execute(request)
    reference = next(Path(a.path) for a in result.artifacts if a.format == "reference-logits")
    return root / "out" / "full-run", {"result": result, "reference": load_file(str(reference / "reference.safetensors"))}


def test_a_full_fine_tune_publishes_its_model_measured_against_itself(full_published, real_checkpoints):
    out, found = full_published
    run = real_checkpoints["full"]
    assert found["result"].planned.checkpoint.kind == "full"
    assert sorted(p.name for p in out.iterdir()) == ["gguf-q8_0", "merged-16bit", "merged-4bit"]
    reference = found["reference"]
    own = AutoModelForCausalLM.from_pretrained(run, dtype=torch.float32).eval()
    with torch.no_grad():
        assert (own(input_ids=reference["input_ids"][None]).logits[0] - reference["logits"]).abs().max() <= 1e-4  # its own logits

    config = json.loads((out / "merged-16bit" / "config.json").read_text())
    assert config["dtype"] == "bfloat16"
    for fmt in ("merged-16bit", "merged-4bit", "gguf-q8_0"):
        manifest = json.loads((out / fmt / "manifest.json").read_text())
        assert manifest["verification"]["passed"], (fmt, manifest["verification"])
        assert "training_args.bin" not in json.dumps(manifest) and not (out / fmt / "training_args.bin").exists()
    card = (out / "merged-16bit" / "README.md").read_text()
    assert f"base_model: {UPSTREAM}" in card and "base_model_relation: finetune" in card
    assert f"is a full fine-tuning of [{UPSTREAM}]" in card and "- full fine-tune: every weight trained, no adapter" in card
    assert "base_model_relation: quantized" in (out / "merged-4bit" / "README.md").read_text()


def test_a_tokenizer_resaved_without_its_sentencepiece_model_publishes_gguf_with_training_s_ids(
    real_checkpoints, tiny_model, tmp_path, capsys
):
    """What a Trainer under transformers 5 leaves for a SentencePiece tokenizer (tokenizer.json alone, `legacy` gone):
    the base's tokenizer.model stands in (the tokenizers are the same), and llama.cpp's default `▁` after BOS, which
    training never saw, is turned off in the GGUF; the token-level chat proof shows the ids equal."""
    from transformers import AutoTokenizer

    run = shutil.copytree(real_checkpoints["full"], tmp_path / "resaved-run", ignore=shutil.ignore_patterns("checkpoint-*"))
    (run / "tokenizer.model").unlink()
    AutoTokenizer.from_pretrained(tiny_model[1]).save_pretrained(run)  # as the Trainer saves it
    out = tmp_path / "out"
    code = cli_code(capsys, "publish", str(run), "-w", str(tmp_path / "ws"), "-f", "gguf-q8_0", "--to", f"dir:{out}", "-q")
    assert code == 0, capsys.readouterr().err
    (manifest,) = out.glob("*/gguf-q8_0/manifest.json")
    verification = json.loads(manifest.read_text())["verification"]
    assert verification["metrics"]["chat_token_check"] == "passed"
    assert any("tokenizer.ggml.add_space_prefix is false" in note for note in verification["notes"])


def test_a_run_folder_publishes_the_final_model_else_the_last_or_the_chosen_checkpoint(real_checkpoints, tmp_path, capsys):
    full, qlora = real_checkpoints["full"], real_checkpoints["qlora-nf4"]
    killed = without_root_model(full, tmp_path / "killed-run")
    ws = ["-w", str(tmp_path / "ws"), "-f", "model-16bit"]

    final = hubship(capsys, "plan", str(full), *ws)
    assert final["kind"] == "full" and final["checkpoint"] == str(full)
    assert (
        final["checkpoint_choice"]
        == f"using the final model saved at the root of {full} (2 checkpoint-N folders beside it; --checkpoint N picks one)"
    )
    assert final["lineage"]["upstream"] == {"id": UPSTREAM, "from": "the checkpoint's README base_model"}
    last = hubship(capsys, "plan", str(killed), *ws)
    assert last["checkpoint"] == str(killed / "checkpoint-4")
    assert (
        last["checkpoint_choice"]
        == f"using checkpoint-4, the last of 2 checkpoint-N folders in {killed} (--checkpoint best|N picks another)"
    )
    best = hubship(capsys, "plan", str(killed), *ws, "--checkpoint", "best")
    assert best["checkpoint"] == str(killed / "checkpoint-2") and "best_model_checkpoint" in best["checkpoint_choice"]
    assert hubship(capsys, "plan", str(full), *ws, "--checkpoint", "4")["checkpoint"] == str(full / "checkpoint-4")
    (tmp_path / "hubship.toml").write_text('base-model-id = "acme/the-original"\ncheckpoint = "best"\n')
    configured = hubship(capsys, "plan", str(killed), *ws, "--config", str(tmp_path / "hubship.toml"))
    assert configured["lineage"]["upstream"] == {"id": "acme/the-original", "from": "--base-model-id"}
    assert configured["checkpoint"] == str(killed / "checkpoint-2")
    assert configured["settings"]["base-model-id"]["origin"] == str(tmp_path / "hubship.toml")

    adapter_run = without_root_model(qlora, tmp_path / "qlora-run")
    inspected = hubship(capsys, "inspect", str(adapter_run), "--checkpoint", "2")
    assert inspected["kind"] == "adapter" and inspected["checkpoint"] == str(adapter_run / "checkpoint-2")
    assert inspected["lineage"]["quantization"] == "bitsandbytes nf4" and inspected["base_info"]["quantization"]["bits"] == 4
    published = hubship(capsys, "publish", str(adapter_run), "-f", "lora", "-w", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'out'}")
    assert published["plan"]["checkpoint_choice"].startswith("using checkpoint-4, the last of 2")
    lora = tmp_path / "out" / "qlora-run" / "lora"
    assert (lora / "adapter_model.safetensors").read_bytes() == (qlora / "checkpoint-4" / "adapter_model.safetensors").read_bytes()
    assert not (lora / "training_args.bin").exists() and not (lora / "optimizer.pt").exists()
