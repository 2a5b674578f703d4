"""The installed package must hold every subpackage: pyproject lists them by hand (the root folder maps onto `hubship`),
so a new folder with an `__init__.py` that is not listed would be missing from a normal (non-editable) install."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "ports", "application", "adapters", "entrypoints")


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"hubship"}
    for layer in LAYERS:
        for init in (REPO / layer).rglob("__init__.py"):
            found.add(".".join(("hubship", *init.parent.relative_to(REPO).parts)))
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "these are listed in pyproject.toml but have no __init__.py"
