"""The pure rules behind real checkpoints: which hub ids a publication names (lineage), which checkpoint of a run
folder is published, and what a quantization_config says."""

from __future__ import annotations

import pytest

from hubship.domain.errors import UserInputError
from hubship.domain.lineage import Lineage, LineageFacts, NamedId, cache_repo_id, looks_like_hub_id, require_base_id, resolve_lineage
from hubship.domain.quantization import parse_quantization
from hubship.domain.run_folder import choose_checkpoint

CACHE = "/home/me/.cache/huggingface/hub/models--unsloth--tiny-bnb-4bit/snapshots/0123abc"


def test_hub_ids_are_told_from_paths():
    assert looks_like_hub_id("acme/tiny-llama") and looks_like_hub_id("Qwen/Qwen2.5-0.5B")
    for text in ("./base", "/abs/path", "~/models/x", "base", "", None, "a/b/c", "C:\\models\\x"):
        assert not looks_like_hub_id(text), text
    assert cache_repo_id(CACHE) == "unsloth/tiny-bnb-4bit"
    assert cache_repo_id("C:\\hf\\hub\\models--acme--x\\snapshots\\rev") == "acme/x"
    assert cache_repo_id("/data/models/base") is None
    assert cache_repo_id("/hub/models--acme--x/blobs/rev") is None


def test_a_16bit_base_is_named_by_the_first_source_that_knows_it():
    facts = LineageFacts(cache_repo_id="cache/id", card_base_model="card/id", config_name="config/id")
    resolve = resolve_lineage
    named = NamedId("named/id", "adapter_config.json")
    assert resolve(kind="adapter", quantized=False, named=named, facts=facts, flag=None).base == named
    assert (
        str(resolve(kind="adapter", quantized=False, named=None, facts=facts, flag=None).base) == "cache/id (from the Hugging Face cache)"
    )
    only_config = LineageFacts(card_base_model="card/id", config_name="config/id")
    assert resolve(kind="adapter", quantized=False, named=None, facts=only_config, flag=None).base.id == "config/id"
    assert (
        resolve(kind="adapter", quantized=False, named=None, facts=LineageFacts(card_base_model="card/id"), flag=None).base.id == "card/id"
    )
    flagged = resolve(kind="adapter", quantized=False, named=named, facts=facts, flag="me/base")
    assert flagged.base == flagged.upstream == NamedId("me/base", "--base-model-id")
    local = LineageFacts(card_base_model="/tmp/base", config_name="./base")  # paths are never ids
    assert resolve(kind="adapter", quantized=False, named=None, facts=local, flag=None) == Lineage()


def test_a_quantized_base_names_the_4bit_repo_in_the_adapter_and_the_upstream_in_the_card():
    facts = LineageFacts(cache_repo_id="unsloth/tiny-bnb-4bit", card_base_model="acme/tiny")
    lineage = resolve_lineage(kind="adapter", quantized=True, named=None, facts=facts, flag=None)
    assert lineage.base == lineage.trained_on == NamedId("unsloth/tiny-bnb-4bit", "the Hugging Face cache")
    assert lineage.upstream == NamedId("acme/tiny", "the base's README base_model") and not lineage.notes
    assert lineage.describe() == (
        "base id unsloth/tiny-bnb-4bit (from the Hugging Face cache); upstream acme/tiny (from the base's README base_model)"
    )
    # config _name_or_path names the upstream (it was quantized from it), unless it names the 4-bit repo itself
    by_config = resolve_lineage(kind="adapter", quantized=True, named=None, facts=LineageFacts(config_name="acme/tiny"), flag=None)
    assert by_config.upstream.id == "acme/tiny" and by_config.base.id == "acme/tiny"
    unknown = resolve_lineage(kind="adapter", quantized=True, named=None, facts=LineageFacts(cache_repo_id="u/x-bnb-4bit"), flag=None)
    assert unknown.upstream.id == "u/x-bnb-4bit" and "--base-model-id" in unknown.notes[0]
    flagged = resolve_lineage(kind="adapter", quantized=True, named=None, facts=facts, flag="acme/original")
    assert flagged.upstream.id == "acme/original" and flagged.base.id == "unsloth/tiny-bnb-4bit"


def test_a_full_fine_tune_names_only_its_upstream():
    facts = LineageFacts(cache_repo_id="me/my-run", card_base_model="acme/tiny", config_name="other/x")
    lineage = resolve_lineage(kind="full", quantized=False, named=None, facts=facts, flag=None)
    assert lineage.base is None and lineage.upstream == NamedId("acme/tiny", "the checkpoint's README base_model")
    assert lineage.describe() == "base model acme/tiny (from the checkpoint's README base_model)"
    with pytest.raises(UserInputError, match="not a hub id"):
        resolve_lineage(kind="full", quantized=False, named=None, facts=facts, flag="just-a-name")


def test_an_adapter_to_the_hub_needs_a_base_id():
    require_base_id(Lineage(), ())  # nothing to the Hub: fine
    require_base_id(Lineage(base=NamedId("a/b", "x"), upstream=NamedId("a/b", "x")), {"lora"})
    with pytest.raises(UserInputError, match=r"gguf-lora, lora to hf: must name .* pass --base-model-id OWNER/NAME"):
        require_base_id(Lineage(), {"lora", "gguf-lora"})
    assert "pass --base-model-id" in Lineage().describe()


def test_a_run_folder_publishes_its_final_model_else_its_last_checkpoint():
    steps = {500: "checkpoint-500", 1000: "checkpoint-1000", 50: "checkpoint-50"}
    assert choose_checkpoint(root="out", root_has_model=True, steps={}, best=None, wanted=None).line is None
    root = choose_checkpoint(root="out", root_has_model=True, steps=steps, best=None, wanted=None)
    assert root.folder == "" and "final model saved at the root of out (3 checkpoint-N folders" in root.line
    last = choose_checkpoint(root="out", root_has_model=False, steps=steps, best="checkpoint-500", wanted=None)
    assert last.folder == "checkpoint-1000" and last.line.startswith("using checkpoint-1000, the last of 3")
    best = choose_checkpoint(root="out", root_has_model=True, steps=steps, best="checkpoint-500", wanted="best")
    assert best.folder == "checkpoint-500" and "best_model_checkpoint" in best.line
    assert choose_checkpoint(root="out", root_has_model=True, steps=steps, best=None, wanted="50").folder == "checkpoint-50"
    assert choose_checkpoint(root="out", root_has_model=True, steps=steps, best=None, wanted="LAST").folder == "checkpoint-1000"


@pytest.mark.parametrize(
    ("steps", "best", "wanted", "message"),
    [
        ({}, None, None, "out holds no checkpoint: looked for adapter_config.json"),
        ({}, None, "last", "needs a trainer run folder"),
        ({2: "checkpoint-2"}, None, "best", "records no best_model_checkpoint"),
        ({2: "checkpoint-2"}, "checkpoint-9", "best", "is not in out"),
        ({2: "checkpoint-2"}, None, "7", "has no checkpoint-7; it has checkpoint-2"),
        ({2: "checkpoint-2"}, None, "newest", "invalid --checkpoint 'newest'"),
    ],
)
def test_a_checkpoint_that_is_not_there_is_named(steps, best, wanted, message):
    with pytest.raises(UserInputError, match=message):
        choose_checkpoint(root="out", root_has_model=False, steps=steps, best=best, wanted=wanted)


def test_quantization_configs_are_read_or_refused():
    assert parse_quantization({"dtype": "bfloat16"}, "m") is None
    nf4 = parse_quantization(
        {"quantization_config": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
                                 "bnb_4bit_compute_dtype": "bfloat16", "llm_int8_skip_modules": ["lm_head", "mlp.down_proj"]}},
        "m",
    )  # fmt: skip
    assert (nf4.bits, nf4.quant_type, nf4.double_quant, nf4.compute_dtype) == (4, "nf4", True, "bf16")
    assert nf4.label == "bitsandbytes nf4 (double quant), lm_head, mlp.down_proj left unquantized"
    assert (
        parse_quantization({"quantization_config": {"_load_in_8bit": True, "quant_method": "bitsandbytes"}}, "m").label
        == "bitsandbytes int8"
    )
    for config, message in (
        ({"quant_method": "gptq", "bits": 4}, "quantized with gptq, which hubship cannot dequantize"),
        ({"load_in_4bit": True, "load_in_8bit": True}, "neither or both"),
        ({"load_in_4bit": True, "bnb_4bit_quant_type": "int4"}, "'int4'"),
        ([1, 2], "not a JSON object"),
    ):
        with pytest.raises(UserInputError, match=message):
            parse_quantization({"quantization_config": config}, "base model m")
