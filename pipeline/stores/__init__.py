"""Chunk stores: the embedded SQLite store (default, `WORKSPACE/talks.db`), the older per-talk files (`memory`),
PostgreSQL/pgvector and Qdrant, chosen by `StoreConfig`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from pipeline.config import ConfigError, resolve_settings, validation_problems
from pipeline.stores.base import ChunkStore, Facets, StoreError, index_status, transcript_fingerprint

__all__ = [
    "STORE_KINDS",
    "ChunkStore",
    "Facets",
    "StoreConfig",
    "StoreError",
    "WorkspaceIndex",
    "index_status",
    "open_store",
    "transcript_fingerprint",
]

STORE_KINDS = ("sqlite", "memory", "pgvector", "qdrant")
_ENVIRONMENT = {"kind": "TALKS_STORE", "url": "TALKS_STORE_URL", "path": "TALKS_STORE_PATH", "name": "TALKS_STORE_NAME"}


class StoreConfig(BaseModel):
    """Which store holds the chunks. `url`: a PostgreSQL connection string (pgvector) or a Qdrant server URL;
    `path`: the SQLite file (default `WORKSPACE/talks.db`) or a local Qdrant folder (default `WORKSPACE/qdrant`);
    `name`: the table / collection name (pgvector, Qdrant)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sqlite", "memory", "pgvector", "qdrant"] = "sqlite"
    url: str | None = None
    path: str | None = None
    name: str = "talks"
    _legacy: bool = PrivateAttr(default=False)

    @property
    def legacy_hint(self) -> str | None:
        """A one-line hint when no store was chosen and the workspace still uses the older per-talk files."""
        if not self._legacy:
            return None
        return (
            "this workspace keeps its chunks in the older memory store (index/); "
            "`talks migrate --to sqlite` moves them into talks.db (faster)"
        )

    @classmethod
    def resolve(
        cls,
        *,
        kind: str | None = None,
        url: str | None = None,
        path: str | None = None,
        name: str | None = None,
        workspace: Path | None = None,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> StoreConfig:
        """Flags > environment (`TALKS_STORE`, `TALKS_STORE_URL`, `TALKS_STORE_PATH`, `TALKS_STORE_NAME`) >
        `[store]` in `talks.toml` in the workspace > `[store]` in `~/.config/talks/config.toml`."""
        flags = {"kind": kind, "url": url, "path": path, "name": name}
        try:
            known = _ENVIRONMENT  # the keys of [store], each with its environment variable
            merged = resolve_settings(
                "store", known, _ENVIRONMENT, flags, workspace=workspace, config_file=config_file, environ=environ
            )
        except ConfigError as error:
            raise StoreError(str(error)) from None
        if merged.get("kind") not in (None, *STORE_KINDS):
            raise StoreError(f"unknown store '{merged['kind']}' (choose one of: {', '.join(STORE_KINDS)})")
        if merged.get("kind") == "pgvector" and not merged.get("url"):
            raise StoreError("the pgvector store needs a connection string: --store-url or TALKS_STORE_URL")
        legacy = not merged.get("kind") and workspace is not None and _uses_legacy_index(workspace)
        if legacy:
            merged["kind"] = "memory"
        try:
            config = cls.model_validate(merged)
        except ValidationError as error:
            raise StoreError(f"invalid store settings: {validation_problems(error)}") from None
        config._legacy = legacy
        return config

    def public(self) -> dict[str, Any]:
        """The settings without credentials, for pipeline dumps and messages."""
        from pipeline.config import public_url

        return {"kind": self.kind, "url": public_url(self.url), "path": self.path, "name": self.name}


def open_store(config: StoreConfig, workspace_root: Path) -> ChunkStore:
    """The configured store; a Qdrant store without URL or path lives in `WORKSPACE/qdrant`."""
    if config.kind == "sqlite":
        from pipeline.stores.sqlite import SqliteChunkStore, database_path

        return SqliteChunkStore(database_path(workspace_root, config.path))
    if config.kind == "memory":
        from pipeline.stores.memory import WorkspaceIndex

        return WorkspaceIndex(workspace_root / "index")
    if config.kind == "pgvector":
        _require("haystack_integrations.document_stores.pgvector", "pgvector")
        from pipeline.stores.pgvector import PgvectorChunkStore

        return PgvectorChunkStore(connection_string=config.url or "", table=config.name)
    _require("haystack_integrations.document_stores.qdrant", "qdrant")
    from pipeline.stores.qdrant import QdrantChunkStore

    if config.url:
        return QdrantChunkStore(url=config.url, collection=config.name)
    return QdrantChunkStore(path=config.path or str(workspace_root / "qdrant"), collection=config.name)


def __getattr__(name: str) -> Any:
    """`WorkspaceIndex` (the memory store) is imported on first use: it brings in Haystack, and with it torch."""
    if name == "WorkspaceIndex":
        from pipeline.stores.memory import WorkspaceIndex

        return WorkspaceIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _uses_legacy_index(workspace: Path) -> bool:
    """A workspace made before the SQLite store: talks in `index/*.npz`, and no `talks.db` holding talks (an empty
    one, e.g. opened by a library call, does not hide them)."""
    from pipeline.stores.sqlite import database_path, holds_talks

    index = workspace / "index"
    return index.is_dir() and any(index.glob("*.npz")) and not holds_talks(database_path(workspace))


def _require(module: str, extra: str) -> None:
    """A clear message, not an ImportError, when an optional store's packages are missing."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise StoreError(f"the {extra} store is not installed: pip install -e '.[{extra}]' (scripts/setup.sh {extra})")
