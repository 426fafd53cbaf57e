"""`talks serve` (REST API and the writer's pages over one warm `Library`) and `talks mcp` (the same library as MCP
tools). Modules: `settings`, `security` (token, session cookie, CSRF, Host check), `jobs` (background ingest and
batch jobs kept in the workspace), `work` (what those jobs do), `drafts` (the writer's recap drafts), `app` (the
app factory), `api_routes` (REST), `pages` (HTML), `mcp` (the MCP server), `run` (uvicorn)."""

from pipeline.server.settings import ServerError, ServerSettings, is_loopback

__all__ = ["ServerError", "ServerSettings", "create_app", "is_loopback", "serve"]


def create_app(settings: ServerSettings, library=None):
    from pipeline.server.app import create_app as build

    return build(settings, library)


def serve(settings: ServerSettings) -> None:
    from pipeline.server.run import serve as run

    run(settings)
