"""Which architectures mlx-lm runs, answered from its installed files without importing it (mlx and transformers
load in seconds; the plan asks this of every publish with an MLX format).

mlx-lm picks the module `mlx_lm.models.<type>` for a config's `model_type`, after its own renaming tables
(`MODEL_ARCHITECTURE_REMAPPING` by (model_type, architecture), then `MODEL_REMAPPING` by model_type) in
`mlx_lm/utils.py`: this reads those two tables as literals and looks for the module file.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

TABLES = ("MODEL_REMAPPING", "MODEL_ARCHITECTURE_REMAPPING")


@functools.cache  # mlx-lm's utils.py parsed once a process, not once per MLX format planned
def _tables(utils: Path) -> dict[str, dict[Any, str]]:
    found: dict[str, dict[Any, str]] = {name: {} for name in TABLES}
    for node in ast.parse(utils.read_text(encoding="utf-8")).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and target.id in TABLES:
            found[target.id] = ast.literal_eval(node.value)
    return found


def mlx_lm_root() -> Path | None:
    """The installed mlx_lm package folder (found, not imported), or None."""
    spec = importlib.util.find_spec("mlx_lm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_module(model_type: str, architecture: str) -> str:
    """The `mlx_lm.models` module name mlx-lm would load for this config."""
    root = mlx_lm_root()
    tables = _tables(root / "utils.py") if root else {name: {} for name in TABLES}
    return tables["MODEL_ARCHITECTURE_REMAPPING"].get((model_type, architecture)) or tables["MODEL_REMAPPING"].get(model_type, model_type)


def unsupported(model_type: str, architecture: str) -> str | None:
    """Why mlx-lm cannot run (model_type, architecture), in one line, or None when it can."""
    root = mlx_lm_root()
    if root is None:
        return "mlx-lm is not installed; pip install 'hubship[mlx]'"
    module = model_module(model_type, architecture)
    if module and (root / "models" / f"{module}.py").is_file():
        return None
    try:
        release = version("mlx-lm")
    except PackageNotFoundError:
        release = "?"
    return f"mlx-lm {release} cannot run model type {model_type!r} ({architecture}): it has no mlx_lm.models.{module}"
