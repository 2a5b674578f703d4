"""What a fine-tuning checkpoint folder holds, and which base model it was trained on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from hubship.domain.errors import UserInputError
from hubship.domain.lineage import Lineage, LineageFacts
from hubship.domain.quantization import Quantization

ADAPTER = "adapter"  # a PEFT adapter trained on a base model
FULL = "full"  # a whole model: a full fine-tune, its weights are the model
KINDS = (ADAPTER, FULL)

# Files that make up a tokenizer and its chat template; all come from the checkpoint when it has any.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
    "chat_template.json",
)
# A vision-language model's processor settings (its chat template is one of TOKENIZER_FILES): from the checkpoint
# when it has them, else from the base.
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")


# Adapter settings whose trained model is not "base + a LoRA delta", so no merged model can equal it.
UNMERGEABLE: tuple[tuple[str, str], ...] = (
    ("alora_invocation_tokens", "an activated LoRA (aLoRA) acts only after its invocation tokens"),
    ("layer_replication", "layer_replication changes the model's depth"),
    ("trainable_token_indices", "trainable tokens (trainable_token_indices)"),
    ("use_qalora", "QA-LoRA pools the inputs of a GPTQ model"),
    ("velora_config", "the VeLoRA variant"),
    ("monteclora_config", "the MonteCLoRA variant"),
    ("use_bdlora", "the block-diagonal BD-LoRA variant"),
    ("arrow_config", "Arrow routing between adapters"),
    ("kasa_config", "the KaSA variant, which truncates the base's singular values"),
)
BASE_CHANGING_INITS = ("pissa", "olora", "corda", "loftq", "lora_ga", "mica")


def unmergeable_reason(config: Mapping[str, Any]) -> str | None:
    """Why an adapter cannot be merged exactly, in a few words; None when it can."""
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        return f"a {peft_type} adapter"
    for key, reason in UNMERGEABLE:
        if config.get(key):
            return reason
    init = str(config.get("init_lora_weights", True)).lower()
    if init.startswith(BASE_CHANGING_INITS):
        return f"init_lora_weights={init} trains against a modified base (convert it to a plain LoRA first)"
    return None


@attrs.frozen(kw_only=True)
class BaseRef:
    """The base model: a local folder, or a hub id plus revision."""

    path: str | None = None
    hub_id: str | None = None
    revision: str = "main"

    def __attrs_post_init__(self) -> None:
        if (self.path is None) == (self.hub_id is None):
            raise UserInputError("a base model needs exactly one of a local path or a hub id")

    @property
    def display(self) -> str:
        return self.path if self.path is not None else f"{self.hub_id}@{self.revision}"

    @property
    def public_name(self) -> str:
        """A name safe to publish: the hub id, or a local folder's last component (never a full local path)."""
        if self.hub_id is not None:
            return self.hub_id
        return (self.path or "").rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]

    @property
    def card_id(self) -> str | None:
        """The id to put in a card's `base_model` (a hub id only; a local path is not an id)."""
        return self.hub_id


@attrs.frozen(kw_only=True)
class Checkpoint:
    """A checkpoint left by a trainer (SFT, KTO, DPO...): a PEFT adapter (`kind` adapter) trained on `base`, or a
    whole model (`kind` full, a full fine-tune; `base` is then its own folder and there is no adapter; `upstream` the
    model it was tuned from, when `--base` names it). `selection` says which checkpoint of a trainer's run folder
    this is, when there was one to choose."""

    root: str
    base: BaseRef
    kind: str = attrs.field(default=ADAPTER, validator=attrs.validators.in_(KINDS))
    adapter_config: Mapping[str, Any] = attrs.field(factory=dict)
    adapter_weights: str | None = None
    adapter_bytes: int = 0
    tokenizer_files: tuple[str, ...] = ()
    chat_template: str | None = None
    generation_config: str | None = None
    trainer_state: str | None = None
    readme: str | None = None
    training_method: str = "unknown"
    datasets: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    selection: str | None = None
    upstream: BaseRef | None = None  # a full fine-tune's upstream base named by --base (the quality yardstick measures it)

    @property
    def is_full(self) -> bool:
        return self.kind == FULL

    @property
    def peft_type(self) -> str:
        return str(self.adapter_config.get("peft_type", "LORA")).upper()

    @property
    def rank(self) -> int | None:
        r = self.adapter_config.get("r")
        return int(r) if isinstance(r, int) else None

    @property
    def target_modules(self) -> tuple[str, ...]:
        targets = self.adapter_config.get("target_modules") or ()
        if isinstance(targets, str):
            return (targets,)
        return tuple(sorted(str(t) for t in targets))

    @property
    def mergeable(self) -> bool:
        return unmergeable_reason(self.adapter_config) is None


@attrs.frozen(kw_only=True)
class BaseInfo:
    """What hubship needs to know about a resolved base model, without loading its weights."""

    path: str
    architecture: str
    model_type: str
    dtype: str
    parameter_bytes: int
    weight_files: tuple[str, ...]
    license: str | None = None
    tie_word_embeddings: bool = False
    vocab_size: int | None = None
    largest_tensor_bytes: int = 0  # the biggest single weight, in `dtype`: what a streaming step holds at once
    num_layers: int | None = None
    quantization: Quantization | None = None  # how its weights are stored (sizes above are the logical, unquantized ones)
    facts: LineageFacts = attrs.field(factory=LineageFacts)  # what the folder says about its own hub id
    lineage: Lineage = attrs.field(factory=Lineage)  # the ids a publication names, resolved by the plan
    merge_onto: MergeOnto | None = None  # the weights merged-16bit merges onto instead of these (--merge-onto)
    tensors: tuple[tuple[str, tuple[int, ...]], ...] = ()  # every weight's name and shape (for size estimates)


@attrs.frozen(kw_only=True)
class MergeOnto:
    """Weights to merge an adapter onto instead of its base's own (`--merge-onto`): `info` describes them, `name`
    is safe to publish (a hub id or a folder name), `files_key` the content key of their files' hashes."""

    info: BaseInfo
    name: str
    files_key: str
