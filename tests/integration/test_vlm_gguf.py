"""GGUF and Ollama for the vision-language families (issue 24), through the CLI as a user runs it: Qwen2.5-VL and
Gemma 3 with their vision towers; each GGUF artifact carries the projector (`mmproj`) llama.cpp converts, which
llama.cpp's multimodal library loads and runs an image through; Ollama gets the text model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubship.adapters.llama_cpp.gguf_verifier import LlamaCppGgufVerifier
from hubship.adapters.torch.model_files import file_keys
from hubship.domain.errors import PublishError
from tests.support import gemma3_vlm
from tests.support.moe_chat import build_chat
from tests.support.published_checks import gguf_fields, manifest, standin

pytestmark = pytest.mark.slow
GGUF_KL = {"gguf-q8_0": 0.01, "gguf-q4_k_m": 0.05}  # the default gates' order of magnitude; measured: docs/accepts.md
__all__ = ["standin"]  # the module's Ollama stand-in (a fixture)


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
        metrics = manifest(tmp_path, fmt)["verification"]["metrics"]
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
        assert gguf_fields(projector)["general.architecture"] == "clip" and "v.blk.0.attn_q.weight" in gguf_fields(projector)["tensors"]
        assert gguf_fields(model)["general.architecture"] == "qwen2vl"
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
    merged = manifest(tmp_path, "merged-16bit")["verification"]
    assert merged["passed"] and merged["metrics"]["mean_kl"] <= 1e-9
    assert merged["metrics"]["vision_tensors"] >= 40 and merged["metrics"]["vision_tensors_wrong"] == 0, merged["metrics"]
    (folder,) = (tmp_path / "published").glob("*/merged-16bit")
    assert set(file_keys([folder / "model.safetensors"])) == set(file_keys([base / "model.safetensors"]))
    assert (folder / "preprocessor_config.json").read_bytes() == (ckpt / "preprocessor_config.json").read_bytes()
    gguf = manifest(tmp_path, "gguf-q8_0")["verification"]
    assert gguf["passed"] and gguf["metrics"]["projector_image_tokens"] > 0 and gguf["metrics"]["chat_token_check"] == "passed"
    (gguf_folder,) = (tmp_path / "published").glob("*/gguf-q8_0")
    (projector,) = gguf_folder.glob("mmproj-*.gguf")
    assert gguf_fields(projector)["general.architecture"] == "clip" and "llama-mtmd-cli" in (gguf_folder / "README.md").read_text()
