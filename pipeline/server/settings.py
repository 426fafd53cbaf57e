"""The server's settings: where the workspace and store are, who may use it, and how much may be uploaded."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

TOKEN_ENV = "TALKS_TOKEN"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


class ServerError(ValueError):
    """The server cannot start as configured; the message says why."""


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1: addresses no other machine can reach."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseModel):
    """Everything `create_app` needs. `token` protects every page and API call; it is required on any host other
    than loopback. `secret` signs the session cookie and CSRF tokens (random per process unless given)."""

    model_config = ConfigDict(frozen=True)

    workspace: Path
    store: str | None = None
    store_url: str | None = None
    token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    max_upload_bytes: int = Field(default=5_000_000, description="Largest single uploaded file.")
    max_upload_files: int = Field(default=50, description="Most files in one upload.")
    max_questions: int = Field(default=100, description="Most questions in one batch ask.")
    secret: str = Field(default_factory=lambda: secrets.token_hex(32), repr=False)
    warm: bool = Field(default=True, description="Load the models when the app starts, not on the first request.")

    @classmethod
    def resolve(cls, *, workspace: Path, token: str | None = None, **values) -> ServerSettings:
        """`token` falls back to `$TALKS_TOKEN`; a non-loopback host without a token is refused."""
        token = token or os.environ.get(TOKEN_ENV) or None
        settings = cls(workspace=workspace, token=token, **values)
        settings.check()
        return settings

    def check(self) -> None:
        if not is_loopback(self.host) and not self.token:
            raise ServerError(f"serving on {self.host} (not loopback) needs a token: pass --token or set {TOKEN_ENV}")
        if self.token is not None and len(self.token) < 8:
            raise ServerError("the token must be at least 8 characters long")

    @property
    def auth_required(self) -> bool:
        return bool(self.token)
