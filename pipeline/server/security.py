"""Who may use the server: a bearer token or a signed session cookie (after the login form) on every page and API
call when a token is set, CSRF tokens on state-changing browser requests, and a Host check against DNS rebinding.

Hand-written because it is a few lines over Starlette's middleware hooks; the packages that do this (sessions, CSRF)
would add a dependency and still need the same token rules."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from pipeline.server.settings import ServerSettings, is_loopback

SESSION_COOKIE = "talks_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
PUBLIC_PATHS = ("/login", "/static/", "/healthz", "/favicon.ico")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
UPLOAD_PATHS = ("/api/ingest/files", "/api/batch")


def _sign(settings: ServerSettings, purpose: str) -> str:
    return hmac.new(settings.secret.encode(), f"{purpose}:{settings.token or ''}".encode(), hashlib.sha256).hexdigest()


def session_value(settings: ServerSettings) -> str:
    """The session cookie's value: a signature, never the token itself."""
    return _sign(settings, "session")


def csrf_token(settings: ServerSettings) -> str:
    """The CSRF token pages embed; any request without a bearer token must echo it (header or form field)."""
    return _sign(settings, "csrf")


def token_matches(settings: ServerSettings, given: str | None) -> bool:
    return bool(settings.token) and given is not None and hmac.compare_digest(given.encode(), settings.token.encode())


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticated(request: Request, settings: ServerSettings) -> bool:
    if not settings.auth_required:
        return True
    if token_matches(settings, bearer(request)):
        return True
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and hmac.compare_digest(cookie.encode(), session_value(settings).encode())


def from_browser(request: Request) -> bool:
    """Browsers send Origin (or Sec-Fetch-Site) on every cross-site and same-site POST; scripts usually do not."""
    return "origin" in request.headers or "sec-fetch-site" in request.headers


def csrf_ok(request: Request, settings: ServerSettings, form_value: str | None = None) -> bool:
    """A state-changing request passes with a valid bearer token (a browser never adds one by itself), with the
    page's CSRF token, or when it does not come from a browser at all (curl, scripts) and is otherwise authorised."""
    if settings.auth_required and token_matches(settings, bearer(request)):
        return True
    given = request.headers.get(CSRF_HEADER) or form_value
    if given is not None:
        return hmac.compare_digest(given.encode(), csrf_token(settings).encode())
    return not from_browser(request)


class SecurityMiddleware(BaseHTTPMiddleware):
    """Host check (loopback binds answer only to loopback names), authentication and CSRF, before any route."""

    def __init__(self, app, settings: ServerSettings) -> None:
        super().__init__(app)
        self.settings = settings

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        api = path.startswith("/api/") or path == "/openapi.json"
        if is_loopback(self.settings.host):
            host = request.url.hostname or ""
            if not is_loopback(host):
                return _refuse(api, 400, f"unknown host '{host}': this server answers on loopback names only")
        if not path.startswith(PUBLIC_PATHS) and not authenticated(request, self.settings):
            if api or request.method != "GET":
                return JSONResponse(
                    {"detail": "a valid token is required"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
            target = quote(path + (f"?{request.url.query}" if request.url.query else ""), safe="")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        if request.method == "POST" and path in UPLOAD_PATHS:
            limit = self.settings.max_upload_files * self.settings.max_upload_bytes + 1_000_000
            length = request.headers.get("content-length", "")
            if not length.isdigit():
                return _refuse(api, 411, "an upload needs a Content-Length header")
            if int(length) > limit:
                return _refuse(api, 413, f"the upload is larger than the server accepts ({limit:,} bytes)")
        if request.method in UNSAFE_METHODS and not path.startswith("/login"):
            form_value = None
            if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                form_value = (await request.form()).get(CSRF_FIELD)
            if not csrf_ok(request, self.settings, form_value if isinstance(form_value, str) else None):
                return _refuse(api, 403, "missing or invalid CSRF token: reload the page and try again")
        return await call_next(request)


def _refuse(api: bool, status: int, message: str) -> Response:
    if api:
        return JSONResponse({"detail": message}, status_code=status)
    return Response(message, status_code=status, media_type="text/plain")
