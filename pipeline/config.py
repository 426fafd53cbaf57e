"""Settings files: `~/.config/talks/config.toml`, then `talks.toml` in the workspace; one TOML table a concern."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

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


def resolve_settings(
    table: str,
    known: Iterable[str],
    environment: Mapping[str, str],
    flags: Mapping[str, Any],
    *,
    workspace: Path | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One concern's settings, strongest last: `[table]` of the config files (the user's, then the workspace's
    `talks.toml`, or only `config_file`), then the environment (`environment` maps a key to its variable; empty
    variables are ignored), then `flags` (None means not given). Raises `ConfigError` naming a bad file."""
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    for path in config_files(workspace, config_file):
        merged.update(read_config_table(path, table, known))
    merged.update({key: environ[name] for key, name in environment.items() if environ.get(name)})
    merged.update({key: value for key, value in flags.items() if value is not None})
    return merged


def public_url(url: str | None) -> str | None:
    """`url` without any `user:password@` part or query string (where credentials may hide)."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment=""))


def validation_problems(error: ValidationError) -> str:
    """A pydantic validation error in one line: `field: problem; field: problem`."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
