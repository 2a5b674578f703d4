"""Find and read `hubship.toml`: given by --config, else in the checkpoint folder, else in the working directory."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from hubship.domain.errors import UserInputError

CONFIG_NAME = "hubship.toml"


def find_config(explicit: Path | None, checkpoint: Path | None, cwd: Path) -> Path | None:
    """The one config file that applies (the first found), or None. An explicit path must exist."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UserInputError(f"config file {explicit} does not exist; pass --config with a {CONFIG_NAME} file")
        return path
    for folder in (checkpoint, cwd):
        if folder is not None and (Path(folder) / CONFIG_NAME).is_file():
            return Path(folder) / CONFIG_NAME
    return None


def read_config(path: Path) -> dict[str, Any]:
    """The file's top-level table; a TOML syntax error is one line naming the file and the position."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{path} is not valid TOML: {exc}; fix the file or pass --config with another") from None
    except OSError as exc:
        raise UserInputError(f"cannot read config file {path}: {exc.strerror or exc}") from None
