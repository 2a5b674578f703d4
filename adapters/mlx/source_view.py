"""The merged model as mlx-lm must read it: a folder of links to its files, with a config.json mlx-lm reads right.

transformers 5 writes RoPE settings only under `rope_parameters` (`{"rope_theta": ..., "rope_type": ...}`), while
mlx-lm 0.32's model classes read the older top-level `rope_theta` / `rope_scaling` / `partial_rotary_factor` and
silently fall back to their defaults (Llama: rope_theta 10000, where SmolLM2 has 100000). The view lifts those
keys to the top level where they are missing, so mlx-lm's conversion and its loader see the model's real
positions; mlx_lm.convert then writes the lifted config into the artifact, so users' loads see them too.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LIFTED = ("rope_theta", "partial_rotary_factor")


def _lift(part: dict[str, Any]) -> list[str]:
    rope = part.get("rope_parameters")
    if not isinstance(rope, dict) or not isinstance(rope.get("rope_theta"), int | float):
        return []  # absent, or one set per layer type: read by the model classes that know it
    lifted = [key for key in LIFTED if key in rope and key not in part]
    part.update({key: rope[key] for key in lifted})
    if rope.get("rope_type", "default") != "default" and part.get("rope_scaling") is None:
        part["rope_scaling"] = {k: v for k, v in rope.items() if k not in LIFTED}
        lifted.append("rope_scaling")
    return lifted


def mlx_config(config: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`config` with RoPE settings lifted from `rope_parameters` (top level and text_config), and the keys lifted."""
    fixed = dict(config)
    lifted = _lift(fixed)
    if isinstance(fixed.get("text_config"), dict):
        fixed["text_config"] = dict(fixed["text_config"])
        lifted += [f"text_config.{key}" for key in _lift(fixed["text_config"])]
    return fixed, tuple(lifted)


@contextlib.contextmanager
def source_view(model_dir: Path) -> Iterator[tuple[Path, tuple[str, ...]]]:
    """(a temporary folder mlx-lm reads as `model_dir`, the config keys lifted for it); removed on exit."""
    config, lifted = mlx_config(json.loads((model_dir / "config.json").read_text()))
    with tempfile.TemporaryDirectory(prefix="hubship-mlx-") as tmp:
        view = Path(tmp)
        for item in model_dir.iterdir():
            if item.name != "config.json" and not item.name.startswith("."):
                os.symlink(item.resolve(), view / item.name)
        (view / "config.json").write_text(json.dumps(config, indent=2))
        yield view, lifted
