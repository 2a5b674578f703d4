"""Card metadata as the Hub checks it: the YAML front matter of a README.md."""

from __future__ import annotations

import re
from typing import Any

from tests.support.hub_server.model import HubError

RELATIONS = ("adapter", "merge", "quantized", "finetune")


def front_matter(text: str) -> dict[str, Any] | None:
    """The YAML front matter of a card; None when there is none; HubError 400 when it is invalid."""
    import yaml

    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.DOTALL)
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise HubError(400, f"Invalid YAML in README.md metadata: {exc}".splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise HubError(400, "README.md metadata must be a YAML mapping")
    relation = data.get("base_model_relation")
    if relation is not None and relation not in RELATIONS:
        raise HubError(400, f'"base_model_relation" must be one of {", ".join(RELATIONS)}')
    for key in ("tags", "datasets"):
        if key in data and not (isinstance(data[key], list) and all(isinstance(t, str) for t in data[key])):
            raise HubError(400, f'"{key}" must be a list of strings')
    return data
