"""Tiny models of the families people fine-tune, each with its real tokenizer, real chat template and a LoRA on the
targets trainers use for it, as a trainer on transformers 5 leaves them (issue 24).

- The tokenizer comes from llama.cpp's vocab-only GGUFs (`models/ggml-vocab-<name>.gguf`, installed beside the
  converter): for a SentencePiece family its pieces, scores and types become the `tokenizer.model` the base ships,
  and transformers 5 builds its `tokenizer.json` from that, as from a Hub download. The special tokens past the
  SentencePiece vocabulary are added tokens, as in the real tokenizer_config.json. Where llama.cpp ships no
  vocabulary of the family, a named stand-in is used (`Family.tokenizer_note`).
- The chat template is the family's own, from llama.cpp's collection (`models/templates/`).
- The model is random, 2 layers, in the family's real config shape; the LoRA has random A and B (a delta that moves
  the logits, as after training).
- The checkpoint is what a trainer saves with transformers 5: the adapter, and the tokenizer re-saved without
  `tokenizer.model`.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from hubship.adapters.llama_cpp.install import installed_home
from tests.support import family_configs

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6  # llama.cpp's token types (SentencePiece's numbering)


@attrs.frozen(kw_only=True)
class Family:
    """One model family: its config, its tokenizer (a llama.cpp vocab and the turn tokens added to it), its chat
    template, its LoRA targets."""

    name: str
    config: Callable[[int], Any]  # vocab size -> a transformers config
    vocab: str  # models/ggml-vocab-<vocab>.gguf
    template: str  # models/templates/<template>.jinja
    targets: tuple[str, ...]
    tokenizer_class: str
    added: tuple[str, ...] = ()  # special tokens appended to the SentencePiece vocabulary, in id order
    add_dummy_prefix: bool = True
    bos: str = "<s>"
    eos: str = "</s>"
    tokenizer_note: str = ""  # says so where the tokenizer is a stand-in
    vocab_size: int | None = None  # the embedding rows, where the family pads them past the tokenizer (Phi-3: 32064)
    byte_level: bool = False  # a byte-level BPE vocabulary (with merges), not SentencePiece


FAMILIES: dict[str, Family] = {
    "gemma2": Family(
        name="gemma2",
        config=family_configs.gemma2,
        vocab="llama-spm",
        template="google-gemma-2-2b-it",
        targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        tokenizer_class="GemmaTokenizer",
        added=("<start_of_turn>", "<end_of_turn>"),
        add_dummy_prefix=False,
        tokenizer_note=(
            "stand-in: llama.cpp ships no Gemma 2 vocabulary; Llama 2's SentencePiece model without the space prefix,"
            " and Gemma's turn tokens added"
        ),
    ),
    "phi3": Family(
        name="phi3",
        config=family_configs.phi3,
        vocab="phi-3",
        template="microsoft-Phi-3.5-mini-instruct",
        targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
        tokenizer_class="LlamaTokenizer",
        eos="<|endoftext|>",
        vocab_size=32064,
    ),
    "mistral": Family(
        name="mistral",
        config=family_configs.mistral,
        vocab="llama-spm",
        template="mistral-v0.2",  # tests/data/chat_templates: llama.cpp's collection has no v0.1/v0.2 template
        targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        tokenizer_class="LlamaTokenizer",
        tokenizer_note="stand-in: Llama 2's SentencePiece vocabulary, the kind Mistral v0.1/v0.2 ship (32,000 pieces, <s> </s>)",
    ),
    "qwen35": Family(
        name="qwen35",
        config=family_configs.qwen35,
        vocab="qwen35",
        template="Qwen3.5-4B",
        targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "in_proj_qkv", "in_proj_z", "out_proj"),
        tokenizer_class="Qwen3_5Tokenizer",
        eos="<|im_end|>",
        byte_level=True,
        vocab_size=151936,
        tokenizer_note="llama.cpp's qwen35 test vocabulary: Qwen2's 151,643 pieces and merges, Qwen3.5's pre-tokenizer",
    ),
}


def _gguf_vocab(name: str) -> dict[str, Any]:
    """tokens, scores, types and the special token ids of llama.cpp's `ggml-vocab-<name>.gguf`."""
    import sys

    home = installed_home()
    sys.path.insert(0, str(home / "gguf-py"))  # llama.cpp's own reader, as the converter uses it
    try:
        import gguf
    finally:
        sys.path.remove(str(home / "gguf-py"))
    path = home / "models" / f"ggml-vocab-{name}.gguf"
    if not path.is_file():  # an install by an older hubship: `make setup` redoes it
        raise FileNotFoundError(f"{path} is missing; run `python -m hubship.adapters.llama_cpp.install install` (make setup)")
    fields = gguf.GGUFReader(path).fields
    return {
        "tokens": fields["tokenizer.ggml.tokens"].contents(),
        "scores": fields["tokenizer.ggml.scores"].contents() if "tokenizer.ggml.scores" in fields else None,
        "types": fields["tokenizer.ggml.token_type"].contents(),
        "unk": fields["tokenizer.ggml.unknown_token_id"].contents() if "tokenizer.ggml.unknown_token_id" in fields else None,
        "merges": fields["tokenizer.ggml.merges"].contents() if "tokenizer.ggml.merges" in fields else None,
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


def _byte_level(family: Family) -> tuple[Any, list[str]]:
    """A byte-level BPE family's tokenizer class built from its llama.cpp vocabulary and merges (the class sets the
    family's pre-tokenizer), and its control tokens (`<|im_start|>`...), which follow the BPE vocabulary."""
    import transformers

    vocab = _gguf_vocab(family.vocab)
    pieces = {t: i for i, t in enumerate(vocab["tokens"]) if vocab["types"][i] == NORMAL}
    merges = [tuple(m.split(" ", 1)) for m in vocab["merges"]]
    made = getattr(transformers, family.tokenizer_class)(vocab=pieces, merges=merges, eos_token=family.eos, bos_token=None)
    return made, [t for i, t in enumerate(vocab["tokens"]) if vocab["types"][i] == CONTROL]


def tokenizer(family: Family, folder: Path) -> Any:
    """The family's tokenizer as transformers 5 builds it (a SentencePiece family's from `folder/tokenizer.model`),
    with its added special tokens and chat template."""
    import transformers
    from transformers import AddedToken

    if family.byte_level:
        made, extra = _byte_level(family)
    else:
        _, extra = sentencepiece_model(family, folder)
        cls = getattr(transformers, family.tokenizer_class)
        made = cls.from_pretrained(str(folder), bos_token=family.bos, eos_token=family.eos, unk_token="<unk>")
    added = [*extra, *family.added]
    made.add_special_tokens({"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in added]})
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
    settings = {"r": 8, "lora_alpha": 16, "target_modules": list(family.targets), "init_lora_weights": False, **dict(lora or {})}
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
