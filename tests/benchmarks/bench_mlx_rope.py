"""What mlx-lm loses when a config keeps its RoPE settings only under `rope_parameters` (as transformers 5 writes
it), on a model whose attention depends on position, as a trained model's previous-token heads do (a script, not a test).

Run:  PYTHONPATH=. .venv/bin/python tests/benchmarks/bench_mlx_rope.py

A Llama with SmolLM2's rope_theta (100000), hidden 192, 4 layers, GQA (3 heads, 1 KV head), tied embeddings, saved by
transformers; in every layer q_proj and k_proj have zero weights and a random bias (x --bias), so queries and keys are
the same for every token and attention depends on the relative position alone, through RoPE. Each row compares
mlx-lm's fp32 logits with transformers' on 256 random tokens: the config as saved (mlx-lm's Llama reads no
`rope_parameters` and runs rope_theta 10000), then with rope_theta at the top level, as hubship's source_view gives it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from hubship.adapters.mlx.metrics import kl_metrics
from hubship.adapters.mlx.source_view import source_view


def positional_model(folder: Path, bias: float) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=3, num_key_value_heads=1, head_dim=64,
        vocab_size=320, max_position_embeddings=2048, tie_word_embeddings=True, rope_theta=100_000.0, attention_bias=True,
    )  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(8)  # clear next-token winners, as a trained model has
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                proj.weight.zero_()
                proj.bias.copy_(torch.randn_like(proj.bias) * bias)
            layer.self_attn.v_proj.weight.mul_(4)
    model.save_pretrained(folder)
    return model


def mlx_logits(folder: Path, ids: np.ndarray) -> tuple[np.ndarray, float]:
    import mlx.core as mx
    from mlx_lm.utils import load_model

    model = load_model(folder)[0]
    return np.array(model(mx.array(ids[None].astype(np.int32)))[0].astype(mx.float32)), model.args.rope_theta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bias", type=float, nargs="+", default=[1.0, 3.0], help="the q/k bias scale (sharper positional heads)")
    args = parser.parse_args()
    print("| q/k bias | config mlx-lm reads | rope_theta mlx-lm runs | mean_kl | top1_agreement |")
    print("| --- | --- | --- | --- | --- |")
    for bias in args.bias:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "model"
            model = positional_model(folder, bias)
            assert "rope_theta" not in json.loads((folder / "config.json").read_text()), "transformers 5 nests it"
            ids = torch.randint(0, 320, (256,), generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                reference = model(ids[None]).logits[0].numpy()
            with source_view(folder) as (view, _):
                for label, read_from in (("as transformers 5 saved it", folder), ("hubship's view", view)):
                    logits, theta = mlx_logits(read_from, ids.numpy())
                    figures = kl_metrics(logits, reference)
                    print(f"| x{bias:g} | {label} | {theta:g} | {figures['mean_kl']:.3g} | {figures['top1_agreement']:.3f} |")

if __name__ == "__main__":
    main()
