"""The ASGI app: `create_app(settings)` builds the FastAPI app over one warm `Library` (REST API under `/api`, the
writer's pages, static files), with the security middleware and the job manager.

    from pipeline.server import ServerSettings, create_app

    app = create_app(ServerSettings(workspace=Path("workspace")))   # then: uvicorn.run(app)

FastAPI rather than Hayhooks: Hayhooks serves one Haystack pipeline per endpoint, while this server is about the
library's calls (ingest jobs, drafts, digests, pages) around several pipelines that share one warm searcher."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from pipeline.api import Library, TalksError
from pipeline.models import EventDigest
from pipeline.resources import PROMPTS_DIR
from pipeline.server.drafts import DraftConflict, DraftStore
from pipeline.server.jobs import JobError, JobManager
from pipeline.server.security import SecurityMiddleware
from pipeline.server.settings import ServerSettings
from pipeline.server.work import batch_work, ingest_work
from pipeline.workspace import WorkspaceError

WEB_DIR = PROMPTS_DIR / "web"
STATUS = {"invalid": 400, "not_found": 404, "unavailable": 503, "failed": 422}
log = logging.getLogger("talks.server")


@dataclass
class ServerState:
    """What every request shares: the settings, the one warm library, the drafts and the jobs."""

    settings: ServerSettings
    library: Library
    drafts: DraftStore
    jobs: JobManager
    digests: dict = field(default_factory=dict)

    def digest(self, event: str) -> EventDigest:
        """The event's extractive digest, kept until a talk is added, replaced or removed (each such change renames
        a file in the transcripts folder): the event page would otherwise recompute it on every visit."""
        folder = self.library.workspace.transcripts_dir
        version = folder.stat().st_mtime_ns if folder.exists() else 0
        key = event.lower()
        cached = self.digests.get(key)
        if cached is None or cached[0] != version:
            cached = (version, self.library.digest(event))
            self.digests[key] = cached
        return cached[1]


def state_of(request: Request) -> ServerState:
    return request.app.state.talks


def create_app(settings: ServerSettings, library: Library | None = None) -> FastAPI:
    """The app over `settings.workspace` (and its store); `library` may be passed in to share a warm one."""
    settings.check()
    library = library or Library.open(settings.workspace, store=settings.store, store_url=settings.store_url)
    library.workspace.create()
    jobs = JobManager(library.workspace.root / "server", {"ingest": ingest_work(library), "batch": batch_work(library)})
    state = ServerState(settings=settings, library=library, drafts=DraftStore(library.workspace), jobs=jobs)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.warm:
            threading.Thread(target=library.warm_up, name="talks-warm-up", daemon=True).start()
        yield
        jobs.shutdown()
        library.close()

    app = FastAPI(
        title="talks",
        summary="Conference talks as searchable, themed, citable knowledge.",
        description='Every JSON body is a model of `pipeline.models`; errors are `{"detail": one line}`.',
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.talks = state
    app.add_middleware(SecurityMiddleware, settings=settings)
    _error_handlers(app)
    from pipeline.server.api_routes import router as api_router
    from pipeline.server.pages import router as pages_router

    app.include_router(api_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    _offline_docs(app)
    return app


def _offline_docs(app: FastAPI) -> None:
    """`/docs`: Swagger UI from the `swagger-ui-bundle` package, not FastAPI's default CDN (the server works
    offline)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="talks API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TalksError)
    async def talks_error(_: Request, error: TalksError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=STATUS.get(error.kind, 400))

    @app.exception_handler(WorkspaceError)
    async def workspace_error(_: Request, error: WorkspaceError) -> JSONResponse:
        status = 404 if str(error).startswith("no talk") else 422
        return JSONResponse({"detail": str(error)}, status_code=status)

    @app.exception_handler(JobError)
    async def job_error(_: Request, error: JobError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404 if str(error).startswith("no job") else 409)

    @app.exception_handler(DraftConflict)
    async def draft_conflict(_: Request, error: DraftConflict) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=409)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        """One line, like every other error: the first problem and where it is."""
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
        return JSONResponse({"detail": f"{where}: {first['msg']}" if where else first["msg"]}, status_code=422)


def web_path(*parts: str) -> Path:
    return WEB_DIR.joinpath(*parts)
