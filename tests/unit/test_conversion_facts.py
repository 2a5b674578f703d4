"""What the converter adapter reads besides running llama.cpp: MTP weights, the cause of a failed preflight, and the
added tokens transformers 5 leaves out of tokenizer_config.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from hubship.adapters.llama_cpp.conversion_facts import has_mtp_weights, preflight_refusal, restored_tokenizer_config

VOCAB = {"<unk>": 0, "<s>": 1, "▁a": 2}


def _model(folder: Path, names: list[str], layers: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"num_hidden_layers": layers}))
    save_file({name: np.zeros(2, dtype=np.float32) for name in names}, str(folder / "model.safetensors"))
    return folder


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight"], False),  # what transformers saves
        (["model.layers.0.mlp.up_proj.weight", "mtp.fc.weight"], True),  # Qwen3.5's own files
        (["model.layers.0.mlp.up_proj.weight", "model.mtp.layers.0.mlp.up_proj.weight"], True),
        (["model.layers.1.mlp.up_proj.weight", "model.layers.2.eh_proj.weight"], True),  # DeepSeek's NextN layer past the last
    ],
)
def test_mtp_weights_are_found_in_the_safetensors_headers(tmp_path: Path, names: list[str], expected: bool) -> None:
    assert has_mtp_weights(_model(tmp_path / "m", names)) is expected


def test_a_folder_without_weights_has_no_mtp(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert has_mtp_weights(tmp_path) is False


def _tokenizer(folder: Path, added: list[dict], spm: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": VOCAB}, "added_tokens": added}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer"}))
    if spm:
        (folder / "tokenizer.model").write_bytes(b"spm")
    return folder


MISSING = "FileNotFoundError: File not found: /tmp/view/tokenizer.model"


def test_a_missing_tokenizer_model_names_how_the_checkpoint_differs_from_the_base(tmp_path: Path) -> None:
    base = _tokenizer(tmp_path / "base", [{"id": 1, "content": "<s>", "special": True}], spm=True)
    ckpt = _tokenizer(tmp_path / "ckpt", [{"id": 1, "content": "<s>", "special": True}, {"id": 3, "content": "<pad>", "special": True}])
    message = preflight_refusal(MISSING, [], base, ckpt, "0.3.36")
    assert message == (
        "llama.cpp's converter needs the SentencePiece tokenizer.model for this model; the checkpoint has none (transformers 5"
        " saves none) and the base's is not the checkpoint's tokenizer: the checkpoint adds token '<pad>' (id 3), which the"
        " base does not have; GGUF formats cannot be built for it (lora and merged-16bit publish without them)"
    )


def test_a_missing_tokenizer_model_that_the_base_lacks_too(tmp_path: Path) -> None:
    base, ckpt = _tokenizer(tmp_path / "base", []), _tokenizer(tmp_path / "ckpt", [])
    assert preflight_refusal(MISSING, [], base, ckpt, "0.3.36").startswith(
        "llama.cpp's converter needs the SentencePiece tokenizer.model for this model and neither the checkpoint nor its base has one;"
    )


TRACEBACK = ["Traceback (most recent call last):", '  File "/c/convert_hf_to_gguf.py", line 310, in main']


def test_a_failure_outside_the_tokenizer_does_not_blame_it(tmp_path: Path) -> None:
    lines = [
        *TRACEBACK,
        '  File "/c/conversion/qwen.py", line 300, in __init__',
        "    assert self.opt_num_mtp_layers != 0",
        "AssertionError",
    ]
    base, ckpt = _tokenizer(tmp_path / "base", []), _tokenizer(tmp_path / "ckpt", [])
    assert preflight_refusal("AssertionError", lines, base, ckpt, "0.3.36") == (
        "llama.cpp's converter (llama-cpp-python 0.3.36) fails on this model: AssertionError;"
        " GGUF formats cannot be built for it (lora and merged-16bit publish without them)"
    )
    lines = [*TRACEBACK, '  File "/c/conversion/base.py", line 2001, in _set_vocab_gpt2', "KeyError: 'merges'"]
    assert (
        preflight_refusal("KeyError: 'merges'", lines, base, ckpt, "0.3.36")
        == "the checkpoint's tokenizer does not convert to GGUF: KeyError: 'merges'"
    )


def test_added_tokens_are_restored_into_tokenizer_config_for_the_converter(tmp_path: Path) -> None:
    added = [{"id": 3, "content": "<|end|>", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}]
    folder = _tokenizer(tmp_path / "t", added)
    restored = json.loads(restored_tokenizer_config(folder) or "{}")
    assert restored == {
        "tokenizer_class": "LlamaTokenizer",
        "added_tokens_decoder": {"3": {k: v for k, v in added[0].items() if k != "id"}},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(restored))
    assert restored_tokenizer_config(folder) is None, "one written by transformers 4 is used as it is"
    assert restored_tokenizer_config(_tokenizer(tmp_path / "none", [])) is None
