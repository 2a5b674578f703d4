"""What trainers really leave, published to a folder and to the local Hub stand-in, then downloaded and loaded as a
reader of the Hub would:

- a LoRA whose base lies in the Hugging Face cache: its published adapter_config.json names the cache's repo id, and
  `AutoPeftModelForCausalLM.from_pretrained` of the downloaded adapter loads that base from the cache (issue 19);
- a QLoRA adapter on a 4-bit base from the cache: the adapter names the 4-bit repo it was trained on, the cards the
  upstream model its README names; the downloaded adapter loads onto the 4-bit base with bitsandbytes;
- a full fine-tune and a run folder, through dir: and hf: alike;
- an adapter whose base has no hub id: refused for hf: (exit 2, one line naming --base-model-id, nothing
  published), published to dir: with a card that says the base is unnamed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from hubship.application.publish_request import PublishRequest
from hubship.entrypoints import cli
from tests.support import hub_fixtures
from tests.support.bnb_forward import assert_matches_bnb_forward
from tests.support.checkpoints import QUANTIZED_REPO, UPSTREAM, point_adapter_at, without_root_model
from tests.support.hub_fixtures import ALICE_TOKEN, check_against_manifest, download

hub, hub_env, container = hub_fixtures.hub, hub_fixtures.hub_env, hub_fixtures.hub_container  # the module's fixtures
pytestmark = pytest.mark.slow


def in_cache(server, folder: Path, repo_id: str) -> Path:
    """`folder` hosted on the server as `repo_id` and downloaded into this process's Hugging Face cache (as
    `hf download` does); the snapshot folder."""
    from huggingface_hub import HfApi, snapshot_download

    api = HfApi(endpoint=server.url, token=ALICE_TOKEN)
    api.create_repo(repo_id, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="base")
    return Path(snapshot_download(repo_id, endpoint=server.url, token=ALICE_TOKEN))


def publish(container, checkpoint: Path, formats: str, *to: str, name: str | None = None, **options: Any):
    request = PublishRequest(checkpoint=str(checkpoint), formats=(formats,), destinations=to, name=name, options=options)
    return container.execute_plan().execute(request)


def reference_of(result) -> dict[str, torch.Tensor]:
    return load_file(str(Path(next(a.path for a in result.artifacts if a.format == "reference-logits")) / "reference.safetensors"))


def load_downloaded_adapter(folder: Path, ids: torch.Tensor) -> torch.Tensor:
    """The downloaded adapter loaded as its card says (its base found by the id it names), offline: from this
    process's Hugging Face cache only."""
    import huggingface_hub.constants as constants
    from peft import AutoPeftModelForCausalLM

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(constants, "HF_HUB_OFFLINE", True)
        model = AutoPeftModelForCausalLM.from_pretrained(folder, device_map="cpu", dtype=torch.float32).eval()
    with torch.no_grad():
        return model(input_ids=ids[None]).logits[0].float()


def test_a_published_lora_loads_against_the_base_id_it_names(hub, container, tiny_model, tmp_path):
    base = in_cache(hub, tiny_model[0], "acme/tiny-llama")
    checkpoint = shutil.copytree(tiny_model[1], tmp_path / "smol-support")
    point_adapter_at(checkpoint, str(base))  # trained on the cached snapshot, by path: the cache knows its id
    result = publish(container, checkpoint, "lora", "hf:alice/smol-support")
    assert str(result.planned.base.lineage.base) == "acme/tiny-llama (from the Hugging Face cache)"
    folder = download(hub, "alice/smol-support", tmp_path / "download")  # the adapter alone lands in the main repo
    check_against_manifest(folder)
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "acme/tiny-llama"
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([1, 5, 9, 42, 7, 3, 200, 11])
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model[0], dtype=torch.float32), tiny_model[1]).eval()
    with torch.no_grad():
        expected = trained(input_ids=ids[None]).logits[0]
    assert (load_downloaded_adapter(folder, ids) - expected).abs().max() <= 1e-5
    card = (folder / "README.md").read_text()
    assert "base_model: acme/tiny-llama" in card and str(base) not in card


def test_a_qlora_adapter_names_its_4bit_base_and_its_upstream(hub, container, real_checkpoints, tmp_path):
    base = in_cache(hub, real_checkpoints["base-nf4"], QUANTIZED_REPO)
    checkpoint = shutil.copytree(real_checkpoints["qlora-nf4"], tmp_path / "qlora-support")
    point_adapter_at(checkpoint, QUANTIZED_REPO)  # as a trainer that loaded the 4-bit base by id writes it
    result = publish(container, checkpoint, "lora,merged-16bit", "hf:alice/qlora", f"dir:{tmp_path / 'out'}", dtype="fp32")
    lineage = result.planned.base.lineage
    assert str(lineage.trained_on) == f"{QUANTIZED_REPO} (from adapter_config.json)"
    assert str(lineage.upstream) == f"{UPSTREAM} (from the base's README base_model)"
    lora, merged = download(hub, "alice/qlora-lora", tmp_path / "lora"), download(hub, "alice/qlora", tmp_path / "merged")
    for folder in (lora, merged):
        check_against_manifest(folder)
        assert f"base_model: {UPSTREAM}" in (folder / "README.md").read_text()
    assert json.loads((lora / "adapter_config.json").read_text())["base_model_name_or_path"] == QUANTIZED_REPO
    assert f"- trained on: {QUANTIZED_REPO}, quantized with bitsandbytes nf4" in (lora / "README.md").read_text()
    reference = reference_of(result)
    assert_matches_bnb_forward(load_downloaded_adapter(lora, reference["input_ids"]), reference["logits"])
    assert json.loads((merged / "manifest.json").read_text())["verification"]["metrics"]["max_abs_diff"] <= 1e-4
    assert base.is_dir() and (tmp_path / "out" / "qlora" / "lora" / "manifest.json").is_file()  # named after hf:alice/qlora


def test_a_full_fine_tune_and_a_run_folder_publish_to_a_folder_and_the_hub(hub, container, real_checkpoints, tmp_path):
    full = publish(container, real_checkpoints["full"], "model-16bit", "hf:alice/full", f"dir:{tmp_path / 'out'}", name="full")
    assert full.planned.checkpoint.kind == "full" and "alice/full" in full.published
    remote = download(hub, "alice/full", tmp_path / "full")
    manifest = check_against_manifest(remote)
    assert manifest["verification"]["passed"] and "base_model_relation: finetune" in (remote / "README.md").read_text()
    assert "training_args.bin" not in {p.name for p in remote.rglob("*")} | set(hub.files("alice/full"))

    run = without_root_model(real_checkpoints["qlora-int8"], tmp_path / "int8-run")
    result = publish(container, run, "lora", "hf:alice/run", f"dir:{tmp_path / 'out'}", name="run")
    assert result.planned.checkpoint.selection.startswith("using checkpoint-4, the last of 2 checkpoint-N folders")
    lora = download(hub, "alice/run", tmp_path / "run")  # the adapter alone lands in the main repo
    check_against_manifest(lora)
    assert (lora / "adapter_model.safetensors").read_bytes() == (run / "checkpoint-4" / "adapter_model.safetensors").read_bytes()
    assert (tmp_path / "out" / "run" / "lora" / "adapter_model.safetensors").is_file()


def test_an_adapter_whose_base_has_no_hub_id(hub, tiny_model, tmp_path, capsys, monkeypatch):
    base = shutil.copytree(tiny_model[0], tmp_path / "my-base")
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "_name_or_path"}))
    checkpoint = shutil.copytree(tiny_model[1], tmp_path / "mine")
    point_adapter_at(checkpoint, str(base))
    monkeypatch.chdir(tmp_path)
    common = [str(checkpoint), "-f", "lora", "-n", "mine", "-w", str(tmp_path / "ws"), "-q"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        cli.main(["publish", *common, "--to", "hf:alice/unnamed", "--to", f"dir:{tmp_path / 'out'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert refused.value.code == 2 and len(err) == 1 and "lora to hf: must name its base model's hub id" in err[0]
    assert "pass --base-model-id OWNER/NAME" in err[0]
    assert "alice/unnamed" not in hub.state.repos and not (tmp_path / "out").exists() and not any((tmp_path / "ws").glob("artifacts/*"))

    with pytest.raises(SystemExit) as done:
        cli.main(["publish", *common, "--to", f"dir:{tmp_path / 'out'}"])
    assert done.value.code in (0, None)
    lora = tmp_path / "out" / "mine" / "lora"
    assert json.loads((lora / "adapter_config.json").read_text())["base_model_name_or_path"] is None
    card = (lora / "README.md").read_text()
    assert "of an unnamed base model (a local folder; pass --base-model-id to name it)" in card and "base_model:" not in card

    with pytest.raises(SystemExit) as named:
        cli.main(["publish", *common, "--to", "hf:alice/named", "--base-model-id", "acme/tiny-llama"])
    assert named.value.code in (0, None) and "alice/named" in hub.state.repos
    assert json.loads(hub.file_bytes("alice/named", "adapter_config.json"))["base_model_name_or_path"] == "acme/tiny-llama"
