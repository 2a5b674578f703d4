"""A model's modules built on the meta device (no weights), and what its module tree tells: tied weights, the
embeddings, the blocks it runs through."""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import init_empty_weights
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, PretrainedConfig


def model_class(config: PretrainedConfig) -> type:
    """The auto class that builds the model with its language-model head: a causal LM, else an image-text-to-text
    model (a vision-language model: its text path takes input_ids alone)."""
    for auto in (AutoModelForCausalLM, AutoModelForImageTextToText):
        if type(config) in auto._model_mapping:
            return auto
    return AutoModelForCausalLM  # its own error names the configuration it cannot build


def skeleton(model_dir: Path, vocab_size: int | None = None) -> nn.Module:
    """The model's modules with every parameter on the meta device (buffers such as rotary tables are real), its
    weights tied as the model ties them, in eval mode; with `vocab_size`, embeddings resized to that many rows."""
    config = AutoConfig.from_pretrained(model_dir)
    with init_empty_weights():
        model = model_class(config).from_config(config, dtype=torch.float32)
        if vocab_size and vocab_size != model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(vocab_size, mean_resizing=False)
    model.tie_weights()
    return model.eval()


def tensor_names(model: nn.Module) -> list[list[str]]:
    """Every name of each parameter tensor, in the model's order (tied weights share one tensor, so several names)."""
    groups: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return list(groups.values())


def aliases(model: nn.Module) -> dict[str, list[str]]:
    """Each parameter name -> every name of the same tensor (tied weights share one)."""
    return {name: names for names in tensor_names(model) for name in names}


def embedding_modules(model: nn.Module) -> set[str]:
    """The names of the input and the output embedding modules."""
    return {n for n, m in model.named_modules() if m is model.get_input_embeddings() or m is model.get_output_embeddings()}


def blocks(model: nn.Module) -> list[str]:
    """Names of the modules to load one at a time: each layer of the biggest ModuleList, then every other top part."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList)]
    if not lists:
        return [""]
    layers, stack = max(lists, key=lambda item: sum(p.numel() for p in item[1].parameters()))
    found = [f"{layers}.{i}" for i in range(len(stack))]
    for name, _ in model.named_parameters(remove_duplicate=False):
        if name.startswith(layers + "."):
            continue
        parts = name.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if not (layers + ".").startswith(prefix + "."):
                if prefix not in found:
                    found.append(prefix)
                break
    return found
