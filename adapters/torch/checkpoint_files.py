"""What every kind of checkpoint folder is read for: JSON configs, the tokenizer and chat template, the README a
trainer wrote, the metrics it logged, and the names (UTF-8, no symlink out of the folder)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import attrs

from hubship.domain.checkpoint import TOKENIZER_FILES
from hubship.domain.errors import UserInputError
from hubship.domain.training_method import detect_training_method


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(
            f"{path.name} in {path.parent} is not valid JSON ({exc.__class__.__name__}); re-save it from the trainer"
        ) from None


def printable(path: Path | str) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def check_utf8(root: Path) -> None:
    """Names go into manifests, cards and Hub paths, which are UTF-8: refuse a folder or file name that is not."""
    for name in (str(root), *(entry.name for entry in root.iterdir())):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise UserInputError(f"the name {printable(name)!r} in the checkpoint is not valid UTF-8; rename it") from None


def check_links(root: Path, names: list[str] | tuple[str, ...]) -> None:
    """Refuse a file among `names` that is a symlink pointing outside `root` (it would publish what is not there)."""
    for name in names:
        if (root / name).is_symlink() and not (root / name).resolve().is_relative_to(root):
            raise UserInputError(f"{name} in {root} is a symlink pointing outside the checkpoint; copy the real file in")


def _chat_template(root: Path, tokenizer_config: dict[str, Any]) -> str | None:
    if (root / "chat_template.jinja").is_file():
        return (root / "chat_template.jinja").read_text(encoding="utf-8")
    if (root / "chat_template.json").is_file():
        value = load_json(root / "chat_template.json").get("chat_template")
        return value if isinstance(value, str) else None
    value = tokenizer_config.get("chat_template")
    return value if isinstance(value, str) else None


def _readme_metadata(readme: Path) -> tuple[list[str], list[str], str]:
    """Tags, datasets and the text of a TRL/PEFT-written README (front matter parsed loosely)."""
    if not readme.is_file():
        return [], [], ""
    text = readme.read_text(encoding="utf-8", errors="replace")
    tags: list[str] = []
    datasets: list[str] = []
    current: list[str] | None = None
    front = text.split("---", 2)[1] if text.startswith("---") and text.count("---") >= 2 else ""
    for line in front.splitlines():
        key = re.match(r"^(\w+):\s*(.*)$", line)
        if key:
            current = {"tags": tags, "datasets": datasets}.get(key.group(1))
            if current is not None and key.group(2).strip():
                current += [v.strip(" '\"") for v in key.group(2).strip("[]").split(",") if v.strip()]
        elif current is not None and line.strip().startswith("- "):
            current.append(line.strip()[2:].strip(" '\""))
    return tags, datasets, text


def _logged_metrics(trainer_state: Path) -> set[str]:
    """The metric names a Trainer logged (`log_history` of trainer_state.json); empty when absent or unreadable."""
    try:
        history = json.loads(trainer_state.read_text(encoding="utf-8")).get("log_history") or []
    except (OSError, ValueError, AttributeError):
        return set()
    return {key for entry in history if isinstance(entry, dict) for key in entry}


@attrs.frozen(kw_only=True)
class CommonFiles:
    """What a checkpoint of any kind holds besides its weights (the Checkpoint fields of the same names)."""

    tokenizer_files: tuple[str, ...]
    chat_template: str | None
    generation_config: str | None
    trainer_state: str | None
    readme: str | None
    training_method: str
    datasets: tuple[str, ...]
    files: tuple[str, ...]  # the tokenizer files and generation config: what is published from the checkpoint


def common_files(root: Path) -> CommonFiles:
    """Read the tokenizer, chat template, generation config, trainer state and README of the checkpoint `root`;
    a symlink among the published files that points outside it is a UserInputError."""
    tokenizer_config_path = root / "tokenizer_config.json"
    tokenizer_config = load_json(tokenizer_config_path) if tokenizer_config_path.is_file() else {}
    if not isinstance(tokenizer_config, dict):
        raise UserInputError(f"tokenizer_config.json in {root} is not a JSON object; re-save the tokenizer")
    tags, datasets, readme_text = _readme_metadata(root / "README.md")
    trainer_state = root / "trainer_state.json"
    signals = [
        *(t for t in tags if not t.startswith("base_model")),
        *re.findall(r"trained (?:with|using) \[?(\w+)", readme_text, re.IGNORECASE),
    ]
    tokenizer_files = tuple(n for n in TOKENIZER_FILES if (root / n).is_file())
    generation = root / "generation_config.json"
    files = [*tokenizer_files, *([generation.name] if generation.is_file() else [])]
    check_links(root, files)
    return CommonFiles(
        tokenizer_files=tokenizer_files,
        chat_template=_chat_template(root, tokenizer_config),
        generation_config=generation.name if generation.is_file() else None,
        trainer_state=trainer_state.name if trainer_state.is_file() else None,
        readme="README.md" if (root / "README.md").is_file() else None,
        training_method=detect_training_method(signals, _logged_metrics(trainer_state)),
        datasets=tuple(d for d in datasets if d),
        files=tuple(files),
    )
