"""The generator's settings: which backend writes text (`extractive`, the default, writes none; `llama-cpp`; `openai`)
and how, resolved from flags, `TALKS_*` environment variables and the `[generator]` table of the config files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.config import ConfigError, public_url, resolve_settings, validation_problems
from pipeline.models import GeneratorBackend

Backend = GeneratorBackend
BACKENDS: tuple[str, ...] = get_args(GeneratorBackend)

ENV_GENERATOR = "TALKS_GENERATOR"
ENV_MODEL = "TALKS_MODEL"
ENV_OPENAI_BASE_URL = "TALKS_OPENAI_BASE_URL"
ENV_OPENAI_MODEL = "TALKS_OPENAI_MODEL"
ENV_OPENAI_API_KEY_ENV = "TALKS_OPENAI_API_KEY_ENV"

_SETTINGS = (
    *("backend", "model", "openai_model", "base_url", "api_key_env"),
    *("temperature", "max_tokens", "n_ctx", "seed", "n_threads", "timeout"),
)
_ENVIRONMENT = {
    "backend": ENV_GENERATOR,
    "model": ENV_MODEL,
    "openai_model": ENV_OPENAI_MODEL,
    "base_url": ENV_OPENAI_BASE_URL,
    "api_key_env": ENV_OPENAI_API_KEY_ENV,
}


class GeneratorError(Exception):
    """The generator is misconfigured or its backend failed; the message never contains the API key."""


class GeneratorConfig(BaseModel):
    """Which backend writes text, and how. `model` is a GGUF path or short name (llama-cpp) or a model name (openai)."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = "extractive"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=16, description="Most tokens one reply may have.")
    n_ctx: int = Field(default=4096, ge=512, description="Context window in tokens (for openai: the budget assumed).")
    seed: int = 42
    n_threads: int | None = Field(default=None, ge=1, description="llama.cpp threads (default: half the cores).")
    timeout: float = Field(default=600.0, gt=0, description="Seconds an openai request may take.")

    @classmethod
    def resolve(
        cls,
        *,
        backend: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        n_ctx: int | None = None,
        seed: int | None = None,
        n_threads: int | None = None,
        workspace: Path | None = None,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> GeneratorConfig:
        """CLI flags (the arguments) > environment (`TALKS_*`) > `talks.toml` in the workspace > the user config file.

        Config files hold a `[generator]` table with the keys `backend`, `model` (GGUF path or short name),
        `openai_model`, `base_url`, `api_key_env`, `temperature`, `max_tokens`, `n_ctx`, `seed`, `n_threads` and
        `timeout`. `model` from the flags is the chosen backend's model; from the environment `TALKS_MODEL` is the
        llama.cpp model and `TALKS_OPENAI_MODEL` the endpoint's. With no backend named anywhere, a base URL or
        endpoint model selects `openai`, else a model `llama-cpp`, else the default is `extractive`.
        """
        flags = {
            "backend": backend,
            "base_url": base_url,
            "api_key_env": api_key_env,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "n_ctx": n_ctx,
            "seed": seed,
            "n_threads": n_threads,
        }
        try:
            merged = resolve_settings(
                "generator",
                _SETTINGS,
                _ENVIRONMENT,
                flags,
                workspace=workspace,
                config_file=config_file,
                environ=environ,
            )
        except ConfigError as error:
            raise GeneratorError(str(error)) from None
        chosen = merged.get("backend")
        if not chosen:
            chosen = "openai" if merged.get("base_url") or merged.get("openai_model") else None
            chosen = chosen or ("llama-cpp" if model or merged.get("model") else "extractive")
        if chosen not in BACKENDS:
            raise GeneratorError(f"unknown generator '{chosen}' (choose one of: {', '.join(BACKENDS)})")
        merged["backend"] = chosen
        if model is not None:
            merged["model"] = merged["openai_model"] = model
        merged["model"] = merged.get("openai_model") if chosen == "openai" else merged.get("model")
        merged.pop("openai_model", None)
        try:
            return cls.model_validate(merged)
        except ValidationError as error:
            raise GeneratorError(f"invalid generator settings: {validation_problems(error)}") from None

    def parameters(self) -> dict[str, str | int | float | bool | None]:
        """The settings worth recording with a result (no secret; a base URL without any user:password part)."""
        values: dict[str, str | int | float | bool | None] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "n_ctx": self.n_ctx,
            "seed": self.seed,
        }
        if self.backend == "openai":
            values["base_url"] = public_url(self.base_url)
        elif self.n_threads:
            values["n_threads"] = self.n_threads
        return values
