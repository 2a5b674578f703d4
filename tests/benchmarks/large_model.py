"""The 8B-shaped model bench_large.py publishes: a Llama-3.1-shaped bf16 base with random weights, written a tensor at
a time into shards of at most the shape's size, and an r=16 LoRA checkpoint on every linear (bench_merge's writer)."""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_merge import write_lora

# hidden, intermediate, layers, heads, KV heads, vocabulary, shard size
SHAPES = {
    "8b": (4096, 14336, 32, 32, 8, 128_256, 5 * 1000**3),
    "1b": (2048, 8192, 16, 32, 8, 128_256, 1000**3),
    "tiny": (256, 768, 4, 8, 2, 128_256, 50 * 1000**2),
}


def tensor_shapes(shape: str) -> list[tuple[str, tuple[int, ...]]]:
    hidden, inner, layers, heads, kv, vocab, _ = SHAPES[shape]
    head_dim = hidden // heads
    per_layer = {
        "input_layernorm.weight": (hidden,),
        "mlp.down_proj.weight": (hidden, inner),
        "mlp.gate_proj.weight": (inner, hidden),
        "mlp.up_proj.weight": (inner, hidden),
        "post_attention_layernorm.weight": (hidden,),
        "self_attn.k_proj.weight": (kv * head_dim, hidden),
        "self_attn.o_proj.weight": (hidden, hidden),
        "self_attn.q_proj.weight": (hidden, hidden),
        "self_attn.v_proj.weight": (kv * head_dim, hidden),
    }
    names = [("model.embed_tokens.weight", (vocab, hidden))]
    names += [(f"model.layers.{i}.{k}", s) for i in range(layers) for k, s in per_layer.items()]
    return [*names, ("model.norm.weight", (hidden,)), ("lm_head.weight", (vocab, hidden))]


def model_bytes(shape: str) -> int:
    return sum(2 * math.prod(s) for _, s in tensor_shapes(shape))


def _write_shard(path: Path, tensors: list[tuple[str, tuple[int, ...]]], gen) -> None:
    """One safetensors shard written a tensor at a time: its header planned first, no shard held in memory."""
    import torch

    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + 2 * math.prod(shape)]}
        offset += 2 * math.prod(shape)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with path.open("wb") as fh:
        fh.write(len(encoded).to_bytes(8, "little"))
        fh.write(encoded)
        for _, shape in tensors:
            if len(shape) == 1:
                value = torch.ones(shape, dtype=torch.bfloat16)
            else:
                value = torch.empty(shape, dtype=torch.bfloat16)
                for start in range(0, shape[0], 1024):  # in row blocks: never a whole fp32 copy of an embedding
                    rows = value[start : start + 1024]
                    rows.copy_(torch.randn(rows.shape, generator=gen) * 0.02)
            fh.write(memoryview(value.view(torch.uint8).numpy()))
            del value


def build_model(root: Path, shape: str) -> tuple[Path, Path]:
    """The base (shards of at most the shape's size, an index), and an r=16 LoRA checkpoint with the demo tokenizer."""
    import torch

    from hubship.adapters.torch.demo_checkpoint import HfDemoCheckpointFactory

    hidden, inner, layers, heads, kv, vocab, shard_bytes = SHAPES[shape]
    base, ckpt = root / "base", root / "checkpoint"
    base.mkdir(parents=True)
    ckpt.mkdir(parents=True)
    _, demo = HfDemoCheckpointFactory().create(root / "tokenizer", layers=1, hidden_size=64)
    gen = torch.Generator().manual_seed(0)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, dims in tensor_shapes(shape):
        if shards[-1] and size + 2 * math.prod(dims) > shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append((name, dims))
        size += 2 * math.prod(dims)
    weight_map = {}
    for number, tensors in enumerate(shards, 1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        _write_shard(base / file, tensors, gen)
        weight_map |= dict.fromkeys((n for n, _ in tensors), file)
    index = {"metadata": {"total_size": model_bytes(shape)}, "weight_map": weight_map}
    (base / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": inner,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv,
        "head_dim": hidden // heads,
        "vocab_size": vocab,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": {
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3",
        },
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "dtype": "bfloat16",
        "bos_token_id": 1,
        "eos_token_id": 2,
    }
    (base / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        for folder in (base, ckpt):
            if (demo / name).is_file():
                shutil.copyfile(demo / name, folder / name)
    write_lora(ckpt, base, tensor_shapes(shape), gen)
    return base, ckpt
