"""The dense families of issue 24 beyond those test_families.py covers (Llama 3, Qwen2.5, Qwen3, Gemma 3, Gemma 4,
SmolLM3, Granite, OLMo 2), each with its llama.cpp vocabulary or a named stand-in (tests/support/family_specs.py) and
its real chat template, published `-f merged-16bit,gguf-q8_0 --to ollama:` through the CLI as a user runs it."""

from __future__ import annotations

import json

import pytest

from hubship.domain.ollama_runtime import BUILTIN, builtin_runtime
from hubship.domain.quality import VERIFICATION_FILE
from tests.support.families import adapter_shift
from tests.support.published_checks import families, gguf_fields, merged_and_gguf_passed, standin

pytestmark = pytest.mark.slow
__all__ = ["families", "standin"]  # the module's family models and Ollama stand-in (fixtures)

DENSE = ("llama3", "qwen25", "qwen3", "gemma3", "gemma4", "smollm3", "granite", "olmo2")


@pytest.mark.parametrize("name", DENSE)
def test_a_dense_family_publishes_merged_gguf_and_ollama_verified_with_its_chat_proof(name, families, cli, standin, tmp_path) -> None:
    base, checkpoint = families(name)
    assert adapter_shift(base, checkpoint) > 1e-3, "the LoRA must move the logits measurably"
    done = cli(
        "publish", str(checkpoint), "--format", "merged-16bit,gguf-q8_0", "--ollama-quant", "q8_0", "-n", name,
        "--workspace", str(tmp_path / "ws"), "--to", f"dir:{tmp_path / 'published'}", "--to", f"ollama:{name}", "--quiet",
        env={"OLLAMA_HOST": standin.url},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    gguf = merged_and_gguf_passed(tmp_path)
    assert gguf["metrics"]["mean_kl"] < gguf["thresholds"]["mean_kl"]["max"]
    assert gguf["metrics"]["chat_token_conversations"] > 0, "the chat proof ran"
    record = standin.state.model(name)
    assert record is not None, done.stdout
    (gguf_file,) = record["files"]  # file name -> digest
    assert gguf_file.endswith(".Q8_0.gguf") and record["template"]
    # `ollama create` gives a gemma4 GGUF Ollama's own renderer: the record says so rather than claim the TEMPLATE
    (made,) = (tmp_path / "published").rglob("*.Q8_0.gguf")
    builtin = builtin_runtime(gguf_fields(made)["general.architecture"])
    assert (builtin is not None) == (name == "gemma4")
    (ollama,) = [json.loads(p.read_text()) for p in (tmp_path / "ws").rglob(VERIFICATION_FILE) if (p.parent / "Modelfile").is_file()]
    assert ollama["metrics"]["ollama_runtime"].startswith(BUILTIN) == (builtin is not None)
    warned = [w for w in ollama["warnings"] if "Ollama's built-in renderer" in w and "not proven" in w]
    assert len(warned) == (builtin is not None)
