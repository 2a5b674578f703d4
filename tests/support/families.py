"""Tiny models of the families people fine-tune, each with its real tokenizer, real chat template and a LoRA on the
targets trainers use for it, as a trainer on transformers 5 leaves them (issue 24).

- The tokenizer comes from llama.cpp's vocab-only GGUFs (`models/ggml-vocab-<name>.gguf`, installed beside the
  converter): for a SentencePiece family its pieces, scores and types become the `tokenizer.model` the base ships,
  and transformers 5 builds its `tokenizer.json` from that, as from a Hub download. The special tokens past the
  SentencePiece vocabulary are added tokens, as in the real tokenizer_config.json. Where llama.cpp ships no
  vocabulary of the family, Mistral's comes from the mistral-common wheel (`Family.mistral_common`), and otherwise a
  named stand-in is used (`Family.tokenizer_note`). A byte-level BPE family's vocabulary
  and merges are built into its tokenizer class (Qwen2Tokenizer...) or into a tokenizers BPE with the family's
  pre-tokenizer (Llama 3's split, GPT-2's, StarCoder's digits), so that llama.cpp's converter recognizes it by hash
  as it recognizes the real one. The families are listed in tests/support/family_specs.py.
- The chat template is the family's own, from llama.cpp's collection (`models/templates/`).
- The model is random, 2 layers, in the family's real config shape; the LoRA has random A and B (a delta that moves
  the logits, as after training).
- The checkpoint is what a trainer saves with transformers 5: the adapter, and the tokenizer re-saved without
  `tokenizer.model`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubship.adapters.llama_cpp.gguf_header import contents
from hubship.adapters.llama_cpp.install import installed_home
from tests.support.family_specs import FAMILIES, LLAMA3_PATTERN, Family
from tests.support.mistral_common_data import data_file

__all__ = ["FAMILIES", "Family", "adapter_shift", "build", "with_added_token"]

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6  # llama.cpp's token types (SentencePiece's numbering)


def _gguf_vocab(name: str) -> dict[str, Any]:
    """tokens, scores, types and the special token ids of llama.cpp's `ggml-vocab-<name>.gguf`."""
    path = installed_home() / "models" / f"ggml-vocab-{name}.gguf"
    if not path.is_file():  # an install by an older hubship: `make setup` redoes it
        raise FileNotFoundError(f"{path} is missing; run `python -m hubship.adapters.llama_cpp.install install` (make setup)")
    fields, _ = contents(path)
    return {
        "tokens": fields["tokenizer.ggml.tokens"],
        "scores": fields.get("tokenizer.ggml.scores"),
        "types": fields["tokenizer.ggml.token_type"],
        "unk": fields.get("tokenizer.ggml.unknown_token_id"),
        "merges": fields.get("tokenizer.ggml.merges"),
    }


def sentencepiece_model(family: Family, out: Path) -> tuple[int, list[str]]:
    """Write the family's `tokenizer.model` (the SentencePiece BPE model of its llama.cpp vocabulary) into `out`;
    returns its size and the special tokens that follow it in the GGUF (the real tokenizer's added tokens)."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    vocab = _gguf_vocab(family.vocab)
    size = max(i for i, kind in enumerate(vocab["types"]) if kind == NORMAL) + 1  # added tokens follow the last normal piece
    model = pb.ModelProto()
    for i in range(size):
        piece = model.pieces.add()
        piece.piece, piece.score = vocab["tokens"][i], vocab["scores"][i]
        kind = vocab["types"][i]
        piece.type = (
            pb.ModelProto.SentencePiece.UNKNOWN
            if i == vocab["unk"]
            else pb.ModelProto.SentencePiece.CONTROL
            if kind in (CONTROL, USER_DEFINED, UNKNOWN)
            else pb.ModelProto.SentencePiece.BYTE
            if kind == BYTE
            else pb.ModelProto.SentencePiece.NORMAL
        )
    spec = model.trainer_spec
    spec.model_type, spec.vocab_size, spec.byte_fallback = pb.TrainerSpec.BPE, size, True
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = 0, 1, 2, -1
    norm = model.normalizer_spec
    norm.name, norm.add_dummy_prefix, norm.remove_extra_whitespaces, norm.escape_whitespaces = (
        "identity",
        family.add_dummy_prefix,
        False,
        True,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.model").write_bytes(model.SerializeToString())
    extra = [t for i, t in enumerate(vocab["tokens"][size:], start=size) if vocab["types"][i] in (CONTROL, USER_DEFINED)]
    return size, extra


def template(family: Family) -> str:
    """The family's template from llama.cpp's collection, else from the suite's own real templates (tests/data)."""
    collection = installed_home() / "models" / "templates" / f"{family.template}.jinja"
    own = Path(__file__).resolve().parents[1] / "data" / "chat_templates" / f"{family.template}.jinja"
    return (collection if collection.is_file() else own).read_text(encoding="utf-8")


def _pre_tokenized(family: Family, pieces: dict[str, int], merges: list[tuple[str, str]]) -> Any:
    """A byte-level BPE tokenizer with the family's pre-tokenizer (`Family.pre_tokenizer`), as its tokenizer.json has it."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    llama3 = family.pre_tokenizer == "llama3"
    made = Tokenizer(models.BPE(vocab=pieces, merges=merges, ignore_merges=llama3, byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=not llama3)
    made.pre_tokenizer = {
        "llama3": pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"), byte_level]),
        "digits": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level]),
        "gpt2": byte_level,
    }[family.pre_tokenizer or ""]
    made.decoder = decoders.ByteLevel()
    bos = [(family.bos, pieces[family.bos])] if family.adds_bos and family.bos else []
    made.post_processor = (
        processors.TemplateProcessing(single=f"{family.bos} $A", pair=f"{family.bos} $A {family.bos} $B", special_tokens=bos)
        if bos
        else processors.ByteLevel(trim_offsets=False)
    )
    return PreTrainedTokenizerFast(tokenizer_object=made, bos_token=family.bos, eos_token=family.eos)


def _byte_level(family: Family) -> tuple[Any, list[Any]]:
    """A byte-level BPE family's tokenizer built from its llama.cpp vocabulary and merges (by the family's tokenizer
    class, which sets its pre-tokenizer, or by `Family.pre_tokenizer`), and its added tokens: the control tokens as
    special, llama.cpp's user-defined ones (GPT-NeoX's runs of spaces) as plain added tokens, at their vocabulary ids.
    llama.cpp's `[PAD<id>]` fillers are left out."""
    import re

    import transformers
    from transformers import AddedToken

    vocab = _gguf_vocab(family.vocab)
    renamed = dict(family.renamed)
    tokens = [renamed.get(i, t) for i, t in enumerate(vocab["tokens"]) if not re.fullmatch(r"\[PAD\d+\]", t)]
    pieces = {t: i for i, t in enumerate(tokens)}
    merges = [tuple(m.split(" ", 1)) for m in vocab["merges"]]
    if family.pre_tokenizer:
        made = _pre_tokenized(family, pieces, merges)
    else:
        made = getattr(transformers, family.tokenizer_class)(vocab=pieces, merges=merges, eos_token=family.eos, bos_token=family.bos)
    kinds = vocab["types"]
    added = [
        AddedToken(t, special=kinds[i] == CONTROL or i in renamed, normalized=kinds[i] != CONTROL)
        for i, t in enumerate(tokens)
        if kinds[i] in (CONTROL, USER_DEFINED) or i in renamed
    ]
    return made, added


def tokenizer(family: Family, folder: Path) -> Any:
    """The family's tokenizer as transformers 5 builds it (a SentencePiece family's from `folder/tokenizer.model`),
    with its added special tokens and chat template."""
    import transformers
    from transformers import AddedToken

    if family.byte_level:
        made, extra = _byte_level(family)
    else:
        names: list[str] = []  # the family's own model has no tokens past it
        if family.mistral_common:
            data_file(family.mistral_common, folder / "tokenizer.model")
        else:
            _, names = sentencepiece_model(family, folder)
        extra = [AddedToken(t, special=True, normalized=False) for t in names]
        cls = getattr(transformers, family.tokenizer_class)
        made = cls.from_pretrained(str(folder), bos_token=family.bos, eos_token=family.eos, unk_token="<unk>")
    extra += [AddedToken(t, special=True, normalized=False) for t in family.added]
    made.add_tokens([t for t in extra if not t.special])
    made.add_special_tokens({"additional_special_tokens": [t for t in extra if t.special]})
    made.chat_template = template(family)
    return made


def build(family: Family, root: Path, *, seed: int = 0, lora: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """(base, checkpoint) of `family` under `root`: the base saved with its `tokenizer.model` (as on the Hub), the
    checkpoint (a LoRA with random A and B) with the tokenizer as transformers 5 re-saves it (no tokenizer.model)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base_dir, ckpt_dir = root / "base", root / "checkpoint"
    torch.manual_seed(seed)
    tok = tokenizer(family, base_dir)
    config = family.config(family.vocab_size or len(tok))
    config.architectures = [type(AutoModelForCausalLM.from_config(config)).__name__]
    model = AutoModelForCausalLM.from_config(config).to(torch.float32)
    model.save_pretrained(base_dir)
    tok.save_pretrained(base_dir)  # tokenizer.json and tokenizer_config.json; tokenizer.model stays (written above)
    (base_dir / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n\n# tiny-{family.name} (test base)\n")
    settings = {"r": 8, "lora_alpha": 16, "target_modules": list(family.targets), "init_lora_weights": False}
    settings.update(lora or {})
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32), LoraConfig(task_type="CAUSAL_LM", **settings)
    )
    peft_model.save_pretrained(ckpt_dir)
    adapter_config = json.loads((ckpt_dir / "adapter_config.json").read_text())
    (ckpt_dir / "adapter_config.json").write_text(
        json.dumps({**adapter_config, "base_model_name_or_path": str(base_dir.resolve())}, indent=2)
    )
    tok.save_pretrained(ckpt_dir)
    (ckpt_dir / "tokenizer.model").unlink(missing_ok=True)  # transformers 5 saves none; make sure of it
    return base_dir, ckpt_dir


def adapter_shift(base: Path, checkpoint: Path, text: str = "The quick brown fox jumps over the lazy dog.") -> float:
    """Mean KL (nats per token) from the base's next-token distribution to base + adapter's (peft, unmerged): how far
    the LoRA moves the logits."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = torch.tensor([AutoTokenizer.from_pretrained(checkpoint)(text)["input_ids"]])
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    with torch.no_grad():
        before = model(ids).logits.log_softmax(-1)
        after = PeftModel.from_pretrained(model, checkpoint).eval()(ids).logits.log_softmax(-1)
    return float((after.exp() * (after - before)).sum(-1).mean())


def with_added_token(checkpoint: Path, dest: Path, token: str) -> Path:
    """A copy of `checkpoint` whose tokenizer gained `token` (as a trainer adds a pad token), re-saved by
    transformers 5: its tokenizer is no longer the base's."""
    from transformers import AutoTokenizer

    shutil.copytree(checkpoint, dest)
    tok = AutoTokenizer.from_pretrained(dest)
    tok.add_special_tokens({"pad_token": token})
    tok.save_pretrained(dest)
    return dest
