"""Model families as trainers on transformers 5 leave them (issue 24), published through the CLI as a user runs it:
tiny random models with the family's real tokenizer and chat template (tests/support/families.py) and a LoRA that
moves the logits, `-f lora,merged-16bit,gguf-q8_0`, and for each dense family `-f merged-16bit,gguf-q8_0 --to
ollama:` (the Ollama stand-in, tests/support/ollama_server).

Gemma 2 and Phi-3 are SentencePiece families whose checkpoint transformers 5 saves without `tokenizer.model`, which
llama.cpp's converter needs: the base's is taken when the tokenizers agree token for token, and the card says so.
Qwen3.5 converts with `--no-mtp`. Each family takes about a minute on 2 cores (the model builds in seconds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dependency_injector import providers
from llama_cpp import Llama
from safetensors.torch import load_file

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import QualityGateFailed
from tests.fakes.merger import ScaledDeltaMerger
from tests.support.families import adapter_shift, with_added_token
from tests.support.published_checks import families, merged_and_gguf_passed, verification

pytestmark = pytest.mark.slow
__all__ = ["families"]  # the module's families, each built once (a fixture)
FORMATS = "lora,merged-16bit,gguf-q8_0"
TAKEN = "`tokenizer.model` is the base model's"


def _publish(cli, checkpoint: Path, root: Path, formats: str = FORMATS, *extra: str):
    dest = ["--workspace", str(root / "ws"), "--to", f"dir:{root / 'published'}", "--quiet"]
    return cli("publish", str(checkpoint), "--format", formats, *dest, *extra)


def _tokenizer_model_is_the_base_s(root: Path, base: Path) -> None:
    for fmt in ("lora", "merged-16bit"):
        (folder,) = (root / "published").glob(f"*/{fmt}")
        assert (folder / "tokenizer.model").read_bytes() == (base / "tokenizer.model").read_bytes()
    (card,) = (root / "published").glob("*/merged-16bit/README.md")
    assert TAKEN in card.read_text()


def test_gemma2_publishes_every_format_verified_with_the_base_s_tokenizer_model(families, cli, tmp_path: Path) -> None:
    base, checkpoint = families("gemma2")
    assert not (checkpoint / "tokenizer.model").exists() and (base / "tokenizer.model").is_file()
    assert adapter_shift(base, checkpoint) > 1e-3, "the LoRA must move the logits measurably"
    done = _publish(cli, checkpoint, tmp_path)
    assert done.returncode == 0, done.stderr
    gguf = merged_and_gguf_passed(tmp_path)
    assert gguf["metrics"]["mean_kl"] < gguf["thresholds"]["mean_kl"]["max"]
    _tokenizer_model_is_the_base_s(tmp_path, base)


def test_phi3_publishes_verified_with_the_base_s_tokenizer_model_and_no_space_after_its_turn_markers(families, cli, tmp_path: Path) -> None:
    """Phi-3's tokenizer (transformers 5) writes no `▁` after `<|user|>`, where llama.cpp's SentencePiece default would
    (29871): hubship writes `tokenizer.ggml.add_space_prefix = false`, and the chat proof shows the ids equal."""
    base, checkpoint = families("phi3")
    assert adapter_shift(base, checkpoint) > 1e-3, "the LoRA must move the logits measurably"
    published = _publish(cli, checkpoint, tmp_path)
    assert published.returncode == 0, published.stderr
    gguf = merged_and_gguf_passed(tmp_path)
    assert any("tokenizer.ggml.add_space_prefix is false" in n for n in gguf["notes"])
    _tokenizer_model_is_the_base_s(tmp_path, base)


def test_phi3_under_a_phi3_name_is_fed_as_trained_with_a_general_name_that_keeps_llama_cpp_s_strip_rule_off(
    families, cli, tmp_path: Path
) -> None:
    """llama.cpp strips the whitespace after every special token of a GGUF whose general.name contains `phi3`; this
    tokenizer keeps the `\\n` after `<|user|>`, so hubship writes the name as `phi 3` and the chat proof passes."""
    _, checkpoint = families("phi3")
    published = _publish(cli, checkpoint, tmp_path, "gguf-q8_0", "--name", "my-Phi3-mini-ft")
    assert published.returncode == 0, published.stderr
    gguf = verification(tmp_path, "gguf-q8_0")
    assert gguf["passed"] and gguf["metrics"]["chat_token_check"] == "passed" and gguf["metrics"]["chat_token_mismatches"] == 0
    assert gguf["metrics"]["chat_token_conversations"] > 0
    assert any("general.name is 'my-Phi 3-mini-ft', not 'my-Phi3-mini-ft'" in n for n in gguf["notes"])
    (file,) = (tmp_path / "published").glob("*/gguf-q8_0/*.gguf")
    llm = Llama(model_path=str(file), vocab_only=True, verbose=False)
    name = llm.metadata["general.name"]
    llm.close()
    assert name == "my-Phi 3-mini-ft"


def test_mistral_s_inst_after_bos_is_fed_as_trained(families, cli, tmp_path: Path) -> None:
    """Mistral v0.2's `<s>[INST]`: llama.cpp's SentencePiece default writes `▁[` after `<s>` where transformers 5 writes
    `[`, a mismatch the hand chain ships silently; hubship turns the GGUF's add_space_prefix off and proves the ids."""
    base, checkpoint = families("mistral")
    assert adapter_shift(base, checkpoint) > 1e-3, "the LoRA must move the logits measurably"
    done = _publish(cli, checkpoint, tmp_path)
    assert done.returncode == 0, done.stderr
    gguf = verification(tmp_path, "gguf-q8_0")
    assert gguf["passed"] and gguf["metrics"]["chat_token_check"] == "passed" and gguf["metrics"]["chat_token_conversations"] > 0
    assert any("tokenizer.ggml.add_space_prefix is false" in n for n in gguf["notes"])


def test_qwen35_without_mtp_weights_converts_with_no_mtp(families, cli, tmp_path: Path) -> None:
    """transformers drops Qwen3.5's `mtp.*` weights and llama.cpp's converters assert them unless told there are none
    (`--no-mtp`; the LoRA converter has no such option)."""
    base, checkpoint = families("qwen35")
    assert adapter_shift(base, checkpoint) > 1e-3, "the LoRA must move the logits measurably"
    done = _publish(cli, checkpoint, tmp_path, f"{FORMATS},gguf-lora")
    assert done.returncode == 0, done.stderr
    gguf = merged_and_gguf_passed(tmp_path)
    assert gguf["metrics"]["mean_kl"] < gguf["thresholds"]["mean_kl"]["max"]
    lora = verification(tmp_path, "gguf-lora")
    assert lora["passed"] and lora["metrics"]["mean_kl"] < lora["thresholds"]["mean_kl"]["max"]


def test_qwen35_merged_4bit_verifies_with_per_head_projections_bitsandbytes_cannot_pack_on_cpu(families, cli, tmp_path: Path) -> None:
    """Qwen3.5's `in_proj_a`/`in_proj_b` have one output per value head (4 here; 16 or 48 in real Qwen3.5), which
    bitsandbytes' AVX512-BF16 CPU kernel cannot repack (blocks of 32 rows): the verifier runs those layers on its
    generic CPU path, and the published 4-bit model keeps them quantized."""
    _, checkpoint = families("qwen35")
    done = _publish(cli, checkpoint, tmp_path, "merged-4bit")
    assert done.returncode == 0, done.stderr
    four_bit = verification(tmp_path, "merged-4bit")
    assert four_bit["passed"] and 0 < four_bit["metrics"]["mean_kl"] < 0.1
    (folder,) = (tmp_path / "published").glob("*/merged-4bit")
    keys = [k for f in folder.glob("*.safetensors") for k in load_file(f)]
    assert any(k.endswith("in_proj_a.weight.quant_state.bitsandbytes__nf4") for k in keys), "in_proj_a stays 4-bit"


def test_a_tokenizer_that_is_not_the_base_s_refuses_gguf_only_naming_the_difference(families, cli, tmp_path: Path) -> None:
    _, checkpoint = families("phi3")
    grown = with_added_token(checkpoint, tmp_path / "grown", "<|pad|>")
    refused = _publish(cli, grown, tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "needs the SentencePiece tokenizer.model" in refused.stderr
    assert "the checkpoint adds token '<|pad|>' (id 32011), which the base does not have" in refused.stderr
    assert "lora and merged-16bit publish without them" in refused.stderr
    assert not (tmp_path / "published").exists()
    without_gguf = _publish(cli, grown, tmp_path, "lora,merged-16bit")
    assert without_gguf.returncode == 0, without_gguf.stderr
    assert not list((tmp_path / "published").glob("*/merged-16bit/tokenizer.model")), "not the base's: it is another tokenizer"
    assert verification(tmp_path, "merged-16bit")["passed"]


def test_a_merge_that_drops_the_adapter_fails_the_gate(families, container, tmp_path: Path) -> None:
    _, checkpoint = families("gemma2")
    (tmp_path / "scratch").mkdir()
    container.hf_merger.override(providers.Object(ScaledDeltaMerger(0.0, tmp_path / "scratch")))  # the LoRA left out
    request = PublishRequest(checkpoint=str(checkpoint), formats=("merged-16bit",), destinations=(f"dir:{tmp_path / 'out'}",))
    with pytest.raises(QualityGateFailed, match=r"quality gate failed, nothing was published \(merged-16bit: (max_abs_diff|mean_kl)="):
        container.execute_plan().execute(request)
    assert not (tmp_path / "out").exists()
