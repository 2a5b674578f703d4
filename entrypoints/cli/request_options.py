"""How the shared options' values become request options: every helper returns them with unset values as `None`;
`request` drops those, so a request carries only what the user (or hubship.toml) set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hubship.application.publish_request import PublishRequest
from hubship.domain.errors import UserInputError
from hubship.domain.quality import parse_threshold


def ollama_options(
    ollama_quant: str | None, allow_generic_template: bool, require_server: bool, allow_frozen_date: bool = False
) -> dict[str, Any]:
    """The ollama: options as request options (unset ones left out)."""
    return {
        "ollama_quant": ollama_quant,
        "allow_generic_template": allow_generic_template or None,
        "require_server": require_server or None,
        "allow_frozen_date": allow_frozen_date or None,
    }


def quality_options(
    verify: str | None, accept_quality_loss: bool, threshold: list[str] | None, bnb_quant_type: str | None, bnb_double_quant: bool
) -> dict[str, Any]:
    """Verification, quality gate and bitsandbytes options as request options (unset ones left out)."""
    thresholds: dict[str, dict[str, float]] = {}
    for text in threshold or ():
        fmt, metric, value = parse_threshold(text)
        thresholds.setdefault(fmt, {})[metric] = value
    return {
        "verify": verify,
        "accept_quality_loss": accept_quality_loss or None,
        "thresholds": thresholds or None,
        "bnb_quant_type": bnb_quant_type,
        "bnb_double_quant": bnb_double_quant or None,
    }


def hub_options(
    private: bool,
    revision: str | None,
    create_pr: bool,
    tag: str | None,
    repo_layout: str | None,
    token_file: Path | None,
    overwrite_card: bool,
) -> dict[str, Any]:
    """The hf: options as request options (unset ones left out)."""
    return {
        "private": private or None,
        "revision": revision,
        "create_pr": create_pr or None,
        "tag": tag,
        "repo_layout": repo_layout,
        "token_file": str(token_file) if token_file else None,
        "overwrite_card": overwrite_card or None,
    }


def parse_size(text: str | None) -> int | None:
    """`5GB`, `500MB`, `1.5GiB`, `123` (bytes) as a byte count; None stays None; anything else is a UserInputError."""
    if text is None:
        return None
    units = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
    value = text.strip().upper().replace(" ", "")
    number = value.rstrip("KMGTIB")
    try:
        size = int(float(number) * units[value[len(number) :]])
    except (ValueError, KeyError):
        raise UserInputError(f"invalid size {text!r}; use a number with a unit, e.g. 5GB or 500MB") from None
    if size <= 0:
        raise UserInputError(f"invalid size {text!r}; it must be positive")
    return size


def request(
    checkpoint: Path, base: str | None, name: str | None, formats: list[str], to: list[str] | None, **options: Any
) -> PublishRequest:
    """A publish request; options left as None (unset) are dropped."""
    return PublishRequest(
        checkpoint=str(checkpoint),
        base=base,
        name=name,
        formats=tuple(formats),
        destinations=tuple(to or ()),
        options={k: v for k, v in options.items() if v is not None},
    )
