"""Runs the app with uvicorn on the configured host and port."""

from __future__ import annotations

import uvicorn

from pipeline.server.app import create_app
from pipeline.server.settings import ServerSettings


def serve(settings: ServerSettings, log_level: str = "info") -> None:
    """Serves until interrupted. One process: the library's warm models are shared by every request."""
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, proxy_headers=False)
