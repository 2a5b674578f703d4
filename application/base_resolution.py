"""What the plan adds to a base it found: the hub ids a publication names (its lineage), and the weights
merged-16bit merges onto (the base's own, or `--merge-onto`), with one line saying which and why."""

from __future__ import annotations

from pathlib import Path

import attrs

from hubship.domain.checkpoint import BaseInfo, BaseRef, Checkpoint, MergeOnto
from hubship.domain.errors import UserInputError
from hubship.domain.lineage import NamedId, looks_like_hub_id, resolve_lineage
from hubship.ports.model_loader import ModelLoader


def with_lineage(checkpoint: Checkpoint, base: BaseInfo, *, flag: str | None, base_given: bool) -> BaseInfo:
    """`base` with its lineage resolved (domain.lineage) from its facts, the hub id the checkpoint names for it
    (`base_given`: named by --base rather than adapter_config.json) and `--base-model-id` (`flag`)."""
    named = None
    if not checkpoint.is_full and checkpoint.base.hub_id is not None:
        named = NamedId(checkpoint.base.hub_id, "--base" if base_given else "adapter_config.json")
    lineage = resolve_lineage(kind=checkpoint.kind, quantized=base.quantization is not None, named=named, facts=base.facts, flag=flag)
    return attrs.evolve(base, lineage=lineage)


def merge_onto_ref(value: str) -> BaseRef:
    """`--merge-onto`: a local folder, else a hub id in the local Hugging Face cache."""
    path = Path(value).expanduser()
    if path.exists() or not looks_like_hub_id(value):
        return BaseRef(path=str(path.resolve()))
    return BaseRef(hub_id=value)


def merge_onto_info(loader: ModelLoader, checkpoint: Checkpoint, value: str) -> BaseInfo:
    """The weights `--merge-onto` names, checked: an adapter's LoRA must fit them, and they must be 16-bit."""
    if checkpoint.is_full:
        raise UserInputError(f"--merge-onto merges an adapter onto other weights; {checkpoint.root} is a full fine-tune, which has none")
    onto = loader.base_info(merge_onto_ref(value))
    if onto.quantization is not None:
        raise UserInputError(f"--merge-onto {value} is quantized ({onto.quantization.label}); pass the original 16-bit model")
    loader.check_compatible(checkpoint, onto)
    return onto


def merge_line(checkpoint: Checkpoint, base: BaseInfo) -> str | None:
    """Which weights merged-16bit merges onto, and why; None for a full fine-tune (nothing is merged)."""
    if checkpoint.is_full:
        return "merged-16bit is the checkpoint's own weights (a full fine-tune: nothing to merge), cast to --dtype and re-sharded"
    if base.merge_onto is not None:
        return (
            f"merged-16bit merges onto {base.merge_onto.name} (--merge-onto), not the weights the adapter was trained on;"
            " its figures against the reference say how far that is"
        )
    if base.quantization is not None:
        return (
            f"merged-16bit merges onto the base as bitsandbytes dequantizes it ({base.quantization.label}): what the adapter"
            " was trained on, so it equals the reference; --merge-onto PATH merges onto the original 16-bit model instead"
        )
    return None


def with_merge_onto(base: BaseInfo, onto: BaseInfo, ref: BaseRef, files_key: str) -> BaseInfo:
    """`base` with `onto` as the weights merged-16bit merges onto (`files_key`: the content key of their files)."""
    return attrs.evolve(base, merge_onto=MergeOnto(info=onto, name=ref.public_name, files_key=files_key))
