"""What a model folder says about its own hub id: the Hugging Face cache folder it lies in, its README's
`base_model:`, its config's `_name_or_path`. Gathered here; domain.lineage decides what they mean."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hubship.domain.lineage import LineageFacts, cache_repo_id

# huggingface_hub.repocard's front-matter block (its metadata_load, without importing the Hub client: a plan pays
# a few hundred ms for that import)
_FRONT_MATTER = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")


def readme_metadata(folder: Path) -> dict[str, Any]:
    """The front matter of the folder's README.md ({} when it has none or it does not parse)."""
    if not (folder / "README.md").is_file():
        return {}
    try:
        match = _FRONT_MATTER.search((folder / "README.md").read_text(encoding="utf-8-sig"))
        found = yaml.safe_load(match.group(2)) if match else None
    except Exception:  # a hand-written README: its front matter is a courtesy, not an input
        return {}
    return found if isinstance(found, dict) else {}


def lineage_facts(folder: Path, config: dict[str, Any], readme: dict[str, Any]) -> LineageFacts:
    """The facts of `folder`, given its config.json and README front matter as read."""
    card = readme.get("base_model")
    card = card[0] if isinstance(card, list) and card else card
    name = config.get("_name_or_path")
    return LineageFacts(
        cache_repo_id=cache_repo_id(str(folder)),
        card_base_model=card if isinstance(card, str) else None,
        config_name=name if isinstance(name, str) else None,
    )
