"""Settings files: `~/.config/talks/config.toml`, then `talks.toml` in the workspace; one TOML table a concern."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

USER_CONFIG = Path("~/.config/talks/config.toml")
WORKSPACE_CONFIG = "talks.toml"


class ConfigError(ValueError):
    """A config file cannot be read or holds unknown keys; the message names the file."""


def config_files(workspace: Path | None, config_file: Path | None = None) -> list[Path]:
    """The files to read, weakest first: an explicit file alone, else the user's file then the workspace's."""
    if config_file:
        return [config_file]
    files = [USER_CONFIG.expanduser()]
    if workspace is not None:
        files.append(workspace / WORKSPACE_CONFIG)
    return files


def read_config_table(path: Path, table: str, known: Iterable[str]) -> dict[str, Any]:
    """The `[table]` of a TOML file (empty when the file does not exist), checked against the known keys."""
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file ({error})") from None
    values = data.get(table, {})
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{table}] must be a table")
    known = list(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown [{table}] keys {', '.join(unknown)} (known: {', '.join(known)})")
    return dict(values)
