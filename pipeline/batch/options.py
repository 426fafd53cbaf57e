"""`BatchOptions`: how a batch runs, one typed object from `talks batch` (or `Library.batch`) down to the engines and
the Ray workers (it pickles)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.models import BatchEngine
from pipeline.stores import StoreConfig

MAX_JOBS = 32
ENGINES: tuple[str, ...] = ("local", "ray")


class BatchOptions(BaseModel):
    """The settings of one batch run.

    `out_dir` (default `<workspace>/recaps`) receives `<id>.json` and `<id>.md` per done talk. `languages` (a list,
    or "de,en") and `translate` are the caption request for YouTube rows without their own. `refresh` processes
    every talk again and refetches YouTube captions. `engine`: local (threads in this process) or ray (Ray actors;
    `address` connects to a running cluster, else a local Ray starts). `http_client` (a `requests.Session`, or a
    function making one), `youtube_options` (more `YouTubeFetcher` arguments) and `ray_options` are for tests."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    jobs: int = Field(default=1, ge=1, le=MAX_JOBS, description="Talks processed at once.")
    retry_failed: bool = False
    out_dir: Path | None = None
    languages: list[str] = Field(default_factory=lambda: ["en"])
    translate: str | None = None
    proxy: str | None = None
    refresh: bool = False
    store: StoreConfig = Field(default_factory=StoreConfig)
    engine: BatchEngine = "local"
    address: str | None = None
    restore_punctuation: Literal["auto", "on", "off"] = "auto"
    http_client: Any = Field(default=None, exclude=True)
    youtube_options: dict[str, Any] = Field(default_factory=dict, exclude=True)
    ray_options: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: Any) -> Any:
        if value is None:
            return ["en"]
        codes = value.split(",") if isinstance(value, str) else list(value)
        return [str(code).strip() for code in codes if str(code).strip()] or ["en"]

    @field_validator("store", mode="before")
    @classmethod
    def _default_store(cls, value: Any) -> Any:
        return StoreConfig() if value is None else value

    @model_validator(mode="after")
    def _address_needs_ray(self) -> BatchOptions:
        if self.address and self.engine != "ray":
            raise ValueError("--address needs --engine ray")
        return self
