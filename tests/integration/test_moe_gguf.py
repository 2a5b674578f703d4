"""GGUF and Ollama for the MoE families (issue 24), through the CLI as a user runs it: tiny random Qwen3-MoE, Mixtral,
gpt-oss and DeepSeek-V3 models with the tokenizer and chat template their checkpoints have (tests/support/moe_chat.py),
merged in the base's per-expert file layout, converted by llama.cpp's converter, quantized, verified against the
reference logits, chat-proven with the real template, and created in the stand-in Ollama server.

About 2 minutes per family on 2 cores (the 151k-token vocabularies dominate the conversion).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.moe_chat import build_chat
from tests.support.published_checks import gguf_fields, manifest, standin

pytestmark = pytest.mark.slow
MOE = ("qwen3_moe", "mixtral", "gpt_oss", "deepseek_v3")
GGUF_KL = {"gguf-q8_0": 0.01, "gguf-q4_k_m": 0.05}  # the default gates' order of magnitude; measured: docs/accepts.md
__all__ = ["standin"]  # the module's Ollama stand-in (a fixture)


@pytest.mark.parametrize("family", MOE)
def test_a_moe_family_publishes_gguf_and_ollama_verified_with_its_chat_proof(family: str, cli, standin, tmp_path: Path) -> None:
    _, ckpt = build_chat(family, tmp_path / "model")
    name = family.replace("_", "-")
    args = ["--workspace", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'published'}", "--to", f"ollama:{name}"]
    done = cli("publish", str(ckpt), "-f", "merged-16bit,gguf-q8_0,gguf-q4_k_m", *args, "--quiet", env={"OLLAMA_HOST": standin.url})
    assert done.returncode == 0, done.stderr[-3000:]
    assert manifest(tmp_path, "merged-16bit")["verification"]["metrics"]["mean_kl"] <= 1e-9
    for fmt, bound in GGUF_KL.items():
        verification = manifest(tmp_path, fmt)["verification"]
        metrics = verification["metrics"]
        assert verification["passed"] and 0 < metrics["mean_kl"] < bound, (fmt, metrics)
        assert metrics["chat_token_check"] == "passed" and metrics["chat_token_mismatches"] == 0, (fmt, metrics)
        assert metrics["chat_completion_tokens"] > 0, metrics  # the GGUF ran a chat completion through its template
    (gguf_file,) = (tmp_path / "published").glob("*/gguf-q8_0/*.gguf")
    fields = gguf_fields(gguf_file)
    arch = fields["general.architecture"]
    assert fields[f"{arch}.expert_count"] == 4, "llama.cpp read the per-expert files as experts"
    assert any(".ffn_gate_exps." in name or ".ffn_gate_up_exps." in name for name in fields["tensors"]), sorted(fields["tensors"])
    records = [json.loads(path.read_text()) for path in (standin.state.data / "models").glob("*.json")]
    (record,) = [r for r in records if r["name"] == f"{name}:latest"]
    (model_file,) = record["files"]
    assert model_file.endswith(".Q4_K_M.gguf")
    assert "/* Derived by hubship from this model's Jinja chat template" in record["template"], record["template"][:200]
