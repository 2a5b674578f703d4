"""GGUF and Ollama for the MoE and vision-language families (issue 24), through the CLI as a user runs it: tiny random Qwen3-MoE, Mixtral,
gpt-oss and DeepSeek-V3 models with the tokenizer and chat template their checkpoints have (tests/support/moe_chat.py),
merged in the base's per-expert file layout, converted by llama.cpp's converter, quantized, verified against the
reference logits, chat-proven with the real template, and created in the stand-in Ollama server.

About 2 minutes per family on 2 cores (the 151k-token vocabularies dominate the conversion).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from hubship.adapters.llama_cpp.gguf_verifier import LlamaCppGgufVerifier
from hubship.adapters.llama_cpp.install import installed_home
from hubship.adapters.torch.model_files import file_keys
from hubship.domain.errors import PublishError
from tests.support import gemma3_vlm
from tests.support.moe_chat import build_chat
from tests.support.ollama_server import StandInServer

pytestmark = pytest.mark.slow
MOE = ("qwen3_moe", "mixtral", "gpt_oss", "deepseek_v3")
GGUF_KL = {"gguf-q8_0": 0.01, "gguf-q4_k_m": 0.05}  # the default gates' order of magnitude; measured: docs/accepts.md


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = StandInServer(tmp_path_factory.mktemp("ollama"))
    yield server
    server.stop()


def _manifest(root: Path, fmt: str) -> dict[str, Any]:
    (found,) = (root / "published").glob(f"*/{fmt}/manifest.json")
    return json.loads(found.read_text())


def _gguf_fields(path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(installed_home() / "gguf-py"))
    try:
        import gguf
    finally:
        sys.path.remove(str(installed_home() / "gguf-py"))
    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    return {**fields, "tensors": {t.name for t in reader.tensors}}


@pytest.mark.parametrize("family", MOE)
def test_a_moe_family_publishes_gguf_and_ollama_verified_with_its_chat_proof(family: str, cli, standin, tmp_path: Path) -> None:
    _, ckpt = build_chat(family, tmp_path / "model")
    name = family.replace("_", "-")
    args = ["--workspace", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'published'}", "--to", f"ollama:{name}"]
    done = cli("publish", str(ckpt), "-f", "merged-16bit,gguf-q8_0,gguf-q4_k_m", *args, "--quiet", env={"OLLAMA_HOST": standin.url})
    assert done.returncode == 0, done.stderr[-3000:]
    assert _manifest(tmp_path, "merged-16bit")["verification"]["metrics"]["mean_kl"] <= 1e-9
    for fmt, bound in GGUF_KL.items():
        verification = _manifest(tmp_path, fmt)["verification"]
        metrics = verification["metrics"]
        assert verification["passed"] and 0 < metrics["mean_kl"] < bound, (fmt, metrics)
        assert metrics["chat_token_check"] == "passed" and metrics["chat_token_mismatches"] == 0, (fmt, metrics)
        assert metrics["chat_completion_tokens"] > 0, metrics  # the GGUF ran a chat completion through its template
    (gguf_file,) = (tmp_path / "published").glob("*/gguf-q8_0/*.gguf")
    fields = _gguf_fields(gguf_file)
    arch = fields["general.architecture"]
    assert fields[f"{arch}.expert_count"] == 4, "llama.cpp read the per-expert files as experts"
    assert any(".ffn_gate_exps." in name or ".ffn_gate_up_exps." in name for name in fields["tensors"]), sorted(fields["tensors"])
    records = [json.loads(path.read_text()) for path in (standin.state.data / "models").glob("*.json")]
    (record,) = [r for r in records if r["name"] == f"{name}:latest"]
    (model_file,) = record["files"]
    assert model_file.endswith(".Q4_K_M.gguf")
    assert "/* Derived by hubship from this model's Jinja chat template" in record["template"], record["template"][:200]


def test_a_vision_language_model_publishes_gguf_with_its_projector(cli, standin, tmp_path: Path) -> None:
    """Qwen2.5-VL: each quantization carries the vision projector (`mmproj-*.gguf`, converted once, losslessly), which
    llama.cpp's multimodal library loads beside it and runs an image through; the card says how to run images; the
    Ollama model is text only (its engine for this architecture does not load a llama.cpp projector), and says so."""
    _, ckpt = build_chat("qwen2_5_vl", tmp_path / "model")
    args = ["--workspace", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'published'}", "--to", "ollama:tiny-vl"]
    done = cli("publish", str(ckpt), "-f", "merged-16bit,gguf-q8_0,gguf-q4_k_m", *args, "--quiet", env={"OLLAMA_HOST": standin.url})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "clip_" not in done.stderr and "mtmd" not in done.stderr, "llama.cpp's multimodal logs stay out of the user's terminal"
    projectors = []
    for fmt in GGUF_KL:
        (folder,) = (tmp_path / "published").glob(f"*/{fmt}")
        (projector,) = folder.glob("mmproj-*.gguf")
        projectors.append(projector.read_bytes())
        metrics = _manifest(tmp_path, fmt)["verification"]["metrics"]
        assert metrics["projector_file"] == projector.name and metrics["projector_image_tokens"] > 0, metrics
        assert metrics["projector_embedding_width"] == 64, "the image embeddings have the text model's width"
        assert metrics["chat_token_check"] == "passed", metrics
        card = (folder / "README.md").read_text()
        assert (
            f"--mmproj {folder}/{projector.name}".split(str(tmp_path))[-1] in card
            and "llama-mtmd-cli" in card
            and "Ollama runs this model as text only" in card
        )
        (model,) = [p for p in folder.glob("*.gguf") if p != projector]
        assert _gguf_fields(projector)["general.architecture"] == "clip" and "v.blk.0.attn_q.weight" in _gguf_fields(projector)["tensors"]
        assert _gguf_fields(model)["general.architecture"] == "qwen2vl"
    assert projectors[0] == projectors[1], "one projector, converted once, carried by every quantization"
    with pytest.raises(PublishError, match=r"cannot use checkpoint\.Q4_K_M\.gguf as the vision projector") as failed:
        LlamaCppGgufVerifier().projector(model, model)  # a file that is not a projector: a tool failure, exit 1
    assert failed.value.exit_code == 1
    (record,) = [
        r for r in (json.loads(p.read_text()) for p in (standin.state.data / "models").glob("*.json")) if r["name"] == "tiny-vl:latest"
    ]
    (only,) = record["files"]
    assert only.endswith(".Q4_K_M.gguf"), "Ollama gets the model, not the projector"
    notes = [json.loads(p.read_text()).get("notes", []) for p in (tmp_path / "ws").rglob(".verification.json")]
    assert any(n.startswith("text only in Ollama") for found in notes for n in found), "the Ollama model says it is text only"


def test_gemma3_keeps_its_vision_tower_and_publishes_gguf_with_its_projector(cli, tmp_path: Path) -> None:
    """Gemma 3 (`Gemma3ForConditionalGeneration`), its base in the Hub's layout (`vision_tower.vision_model.*`): the
    merged model keeps that layout, the processor file and the vision tower to the bit; the GGUF carries the
    projector llama.cpp converts from it, which llama.cpp loads and runs an image through."""
    base, ckpt = gemma3_vlm.build(tmp_path / "model")
    args = ["--workspace", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'published'}", "--quiet"]
    done = cli("publish", str(ckpt), "-f", "merged-16bit,gguf-q8_0", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    merged = _manifest(tmp_path, "merged-16bit")["verification"]
    assert merged["passed"] and merged["metrics"]["mean_kl"] <= 1e-9
    assert merged["metrics"]["vision_tensors"] >= 40 and merged["metrics"]["vision_tensors_wrong"] == 0, merged["metrics"]
    (folder,) = (tmp_path / "published").glob("*/merged-16bit")
    assert set(file_keys([folder / "model.safetensors"])) == set(file_keys([base / "model.safetensors"]))
    assert (folder / "preprocessor_config.json").read_bytes() == (ckpt / "preprocessor_config.json").read_bytes()
    gguf = _manifest(tmp_path, "gguf-q8_0")["verification"]
    assert gguf["passed"] and gguf["metrics"]["projector_image_tokens"] > 0 and gguf["metrics"]["chat_token_check"] == "passed"
    (gguf_folder,) = (tmp_path / "published").glob("*/gguf-q8_0")
    (projector,) = gguf_folder.glob("mmproj-*.gguf")
    assert _gguf_fields(projector)["general.architecture"] == "clip" and "llama-mtmd-cli" in (gguf_folder / "README.md").read_text()
