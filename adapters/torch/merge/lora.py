"""The adapter file split as peft reads it: LoRA modules with their scaling, and full tensors that replace the base's."""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from hubship.adapters.torch.merge.safetensors_reader import Stored
from hubship.adapters.torch.model_files import ADAPTER_PREFIX
from hubship.domain.errors import UserInputError

_LORA_KEY = re.compile(
    r"^(?P<module>.+?)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)(?:\.(?P<rest>.+))?$"
)
_SAVED_WRAPPER = re.compile(r"\.(base_layer|modules_to_save(\.[^.]+)?)(?=\.[^.]+$)")


@attrs.frozen
class Lora:
    """The LoRA parts of one module and its scaling, as peft computes them."""

    module: str
    embedding: bool
    a: Stored
    b: Stored
    scaling: float
    magnitude: Stored | None = None
    bias: Stored | None = None
    transposed: bool = False  # the base stores the weight as (in, out): a Conv1D, peft's fan_in_fan_out


def pattern_value(pattern: dict[str, Any], module: str, default: Any) -> Any:
    """The value of the first key of a rank_pattern / alpha_pattern matching `module`, as peft matches them
    (`peft.utils.other.get_pattern_key`: the key is a regex for the name's tail). Not imported from peft, whose
    import alone takes seconds that a merge does not otherwise spend."""
    for key in pattern:
        if re.match(rf"(.*\.)?({key})$", module):
            return pattern[key]
    return default


def scaling(config: dict[str, Any], module: str, rank: int) -> float:
    """alpha / r (rsLoRA: alpha / sqrt(r)) of `module`, with r and alpha from rank_pattern / alpha_pattern; the
    weights' `rank` must be that r."""
    r = pattern_value(config.get("rank_pattern") or {}, module, config.get("r", 8))
    alpha = pattern_value(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8))
    if int(r) != rank:
        raise UserInputError(f"adapter_config.json gives {module} rank {r} but its weights have rank {rank}; re-save the adapter")
    return float(alpha) / (math.sqrt(rank) if config.get("use_rslora") else rank)


def _fused_rank(config: dict[str, Any], module: str, rank: int) -> bool:
    """Whether the LoRA's rank is a multiple of its configured r, as on a fused MoE parameter (peft's
    target_parameters: r per expert); merge.fused works out its parameter and scaling."""
    r = int(pattern_value(config.get("rank_pattern") or {}, module.replace(".base_layer", ""), config.get("r", 8)))
    return rank != r and rank % r == 0


def adapter_parts(
    config: dict[str, Any], tensors: dict[str, Stored], transposed: frozenset[str] = frozenset()
) -> tuple[dict[str, Lora], dict[str, Stored]]:
    """Split the adapter file into LoRA modules and full tensors that replace base tensors (modules_to_save...).

    `transposed` names the modules whose weight is stored (in, out): peft applies fan_in_fan_out to
    exactly those (it overrides the config's flag by the module's type), and so does the merge.
    """
    parts: dict[str, dict[str, Stored]] = {}
    replaced: dict[str, Stored] = {}
    for key, stored in tensors.items():
        name = key.removeprefix(ADAPTER_PREFIX)
        match = _LORA_KEY.match(name)
        if match:
            leaf = "bias" if (match["rest"] or "").endswith("bias") else "weight"
            parts.setdefault(match["module"], {})[f"{match['part']}.{leaf}"] = stored
        else:
            replaced[_SAVED_WRAPPER.sub("", name)] = stored
    loras = {}
    fused_targets = bool(config.get("target_parameters"))
    for module, found in parts.items():
        embedding = "lora_embedding_A.weight" in found
        a = found.get("lora_embedding_A.weight" if embedding else "lora_A.weight")
        b = found.get("lora_embedding_B.weight" if embedding else "lora_B.weight")
        if a is None or b is None:
            raise UserInputError(f"the adapter holds only half of the LoRA pair of {module}; re-save the adapter")
        loras[module] = Lora(
            module=module,
            embedding=embedding,
            a=a,
            b=b,
            scaling=math.nan if fused_targets and _fused_rank(config, module, a.shape[0]) else scaling(config, module, a.shape[0]),
            magnitude=found.get("lora_magnitude_vector.weight"),
            bias=found.get("lora_B.bias"),
            transposed=module in transposed,
        )
    return loras, replaced
