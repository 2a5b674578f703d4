"""GGUF inputs that cannot work fail at plan time (`plan` and `publish`), with one line on stderr, before any merge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import UserInputError
from tests.fakes.merger import FakeMerger

pytestmark = pytest.mark.slow


def _one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hubship: error: ")
    return lines[0]


def _nothing_built(workspace: Path) -> None:
    artifacts = workspace / "artifacts"
    assert not artifacts.exists() or not any(artifacts.iterdir())


@pytest.fixture
def foreign_architecture(tiny_model, tmp_path) -> Path:
    """A copy of the tiny base that claims an architecture llama.cpp's converter does not know."""
    base = tmp_path / "foreign-base"
    shutil.copytree(tiny_model[0], base)
    config = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**config, "architectures": ["FooBarForCausalLM"]}))
    return base


@pytest.fixture
def unknown_bpe_checkpoint(checkpoint_copy) -> Path:
    """The checkpoint with a byte-level-free BPE tokenizer whose pre-tokenizer llama.cpp does not recognize."""
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (checkpoint_copy / name).unlink(missing_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = ["The quick brown fox jumps over the lazy dog.", "Hello world, tiny tests."] * 50
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=200, special_tokens=["<unk>", "<s>", "</s>"]))
    tokenizer.save(str(checkpoint_copy / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (checkpoint_copy / "tokenizer_config.json").write_text(json.dumps(config))
    return checkpoint_copy


def test_unknown_quantization_lists_the_valid_ones(cli, tiny_model, tmp_path):
    line = _one_line_error(cli("plan", str(tiny_model[1]), "-f", "gguf-q9_k", "-w", str(tmp_path / "ws")))
    assert "gguf-q9_k" in line and "gguf-q4_k_m" in line and "gguf-q8_0" in line


def test_iq2_without_importance_matrix_is_refused_before_any_merge(cli, tiny_model, tmp_path):
    workspace = tmp_path / "ws"
    args = ["-f", "gguf-q4_k_m,gguf-iq2_xs", "--imatrix", "off", "-w", str(workspace), "--to", f"dir:{tmp_path / 'out'}"]
    result = cli("publish", str(tiny_model[1]), *args)
    assert "gguf-iq2_xs cannot be made without an importance matrix" in _one_line_error(result)
    _nothing_built(workspace)


def test_unsupported_architecture_is_refused_before_any_merge(cli, tiny_model, foreign_architecture, tmp_path):
    workspace = tmp_path / "ws"
    args = [str(tiny_model[1]), "--base", str(foreign_architecture), "-f", "gguf-q4_k_m", "-w", str(workspace)]
    line = _one_line_error(cli("publish", *args, "--to", f"dir:{tmp_path / 'out'}"))
    assert "does not support architecture FooBarForCausalLM" in line
    _nothing_built(workspace)


def test_tokenizer_that_does_not_convert_is_refused_at_plan_time(container, unknown_bpe_checkpoint):
    merger = FakeMerger()
    container.merger.override(merger)
    request = PublishRequest(checkpoint=str(unknown_bpe_checkpoint), formats=("gguf-q8_0",), destinations=())
    with pytest.raises(UserInputError, match=r"pre-tokenizer that llama\.cpp's converter .* does not recognize") as caught:
        container.execute_plan().execute(request)
    assert "\n" not in caught.value.message and merger.calls == 0
