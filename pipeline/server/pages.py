"""The writer's pages: library, talk, recap editor, ask, event digest, login. Server-rendered Jinja templates from
`prompts/web/templates` with autoescaping on (transcript text and titles are data, never markup); a little plain JS
in `prompts/web/static/app.js` for uploads with live progress, search within a talk and the recap editor."""

from __future__ import annotations

from functools import cache
from typing import Annotated
from urllib.parse import quote as url_quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool

from pipeline.api import TalksError
from pipeline.models import TALK_ID_MAX_LENGTH, Talk, format_timestamp
from pipeline.server.api_routes import answer, load_draft
from pipeline.server.app import ServerState, state_of, web_path
from pipeline.server.schemas import QuestionRequest
from pipeline.server.security import SESSION_COOKIE, csrf_token, session_value, token_matches
from pipeline.workspace import WorkspaceError, check_talk_id

router = APIRouter(include_in_schema=False)
State = Annotated[ServerState, Depends(state_of)]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(web_path("templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["stamp"] = format_timestamp
    env.filters["urlpart"] = lambda value: url_quote(str(value), safe="")
    env.globals["video_link"] = video_link
    return env


def video_link(talk: Talk, seconds: float | None) -> str | None:
    """The video at that second (a URL built from the validated YouTube id only), or None."""
    return talk.url_at(seconds) if talk.youtube_id and seconds is not None else None


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    settings = state_of(request).settings
    html = (
        environment()
        .get_template(name)
        .render(
            request_path=request.url.path,
            csrf=csrf_token(settings),
            auth=settings.auth_required,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers={"Content-Security-Policy": CSP})


#: Scripts only from this server (no inline script runs), nothing framed, forms post only here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


def error_page(request: Request, error: Exception, status_code: int) -> HTMLResponse:
    return render(request, "error.html", status_code=status_code, title="Not available", message=str(error))


async def guarded(request: Request, make, *args):
    """Runs `make` in the thread pool; a library error becomes an error page with its one line."""
    try:
        return await run_in_threadpool(make, *args)
    except TalksError as error:
        status = {"not_found": 404, "unavailable": 503}.get(error.kind, 400)
        return error_page(request, error, status)
    except WorkspaceError as error:
        return error_page(request, error, 404 if str(error).startswith("no talk") else 422)


def _check_id(request: Request, talk_id: str) -> HTMLResponse | None:
    """An error page for anything that is not a talk id (the library's one validator), before any file is read."""
    try:
        check_talk_id(talk_id)
    except WorkspaceError as error:
        return error_page(request, error, 404)
    return None


# -- login ----------------------------------------------------------------------------------------------------------


def _local_target(target: str | None) -> str:
    """Only a path on this server (never `//host` or a scheme) is a place to go back to after logging in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", title="Log in", target=_local_target(next), failed=False)


@router.post("/login")
def login(
    request: Request, state: State, token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/"
) -> Response:
    settings = state.settings
    if not settings.auth_required:
        return RedirectResponse(_local_target(next), status_code=303)
    if not token_matches(settings, token):
        return render(request, "login.html", status_code=401, title="Log in", target=_local_target(next), failed=True)
    response = RedirectResponse(_local_target(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session_value(settings), httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- pages ----------------------------------------------------------------------------------------------------------


def _library(state: ServerState) -> dict:
    talks = state.library.talks()
    events: dict[str, list] = {}
    for info in sorted(talks, key=lambda i: (i.talk.date is None, i.talk.date or 0, i.talk.id)):
        events.setdefault(info.talk.event or "Other talks", []).append(info)
    failed = [(job, item) for job in state.jobs.list()[:10] for item in job.items if item.status == "failed"]
    return {"events": events, "count": len(talks), "jobs": state.jobs.list()[:5], "failed": failed}


@router.get("/", response_class=HTMLResponse)
async def library_page(request: Request, state: State) -> Response:
    context = await guarded(request, _library, state)
    if isinstance(context, Response):
        return context
    return render(request, "library.html", title="Library", **context)


@router.get("/talks/{talk_id}", response_class=HTMLResponse)
async def talk_page(
    request: Request,
    talk_id: str,
    state: State,
    start: Annotated[int | None, Query(alias="from", ge=0)] = None,
    end: Annotated[int | None, Query(alias="to", ge=0)] = None,
) -> Response:
    if (refused := _check_id(request, talk_id)) is not None:
        return refused
    transcript = await guarded(request, state.library.transcript, talk_id)
    if isinstance(transcript, Response):
        return transcript
    first = start if start is not None else -1
    last = end if end is not None else first
    return render(
        request,
        "talk.html",
        title=transcript.talk.display_title,
        talk=transcript.talk,
        segments=transcript.segments,
        marked=(first, last),
        has_draft=state.drafts.path(talk_id).exists(),
    )


@router.get("/talks/{talk_id}/recap", response_class=HTMLResponse)
async def recap_page(request: Request, talk_id: str, state: State) -> Response:
    if (refused := _check_id(request, talk_id)) is not None:
        return refused
    draft = await guarded(request, load_draft, state, talk_id)
    if isinstance(draft, Response):
        return draft
    return render(
        request,
        "recap.html",
        title=f"Recap: {draft.talk.display_title}",
        talk=draft.talk,
        draft=draft,
        draft_data=draft.model_dump(mode="json", exclude={"generated"}),
    )


@router.get("/ask", response_class=HTMLResponse)
async def ask_page(
    request: Request,
    state: State,
    q: Annotated[str, Query(max_length=2000)] = "",
    event: Annotated[str, Query(max_length=300)] = "",
    speaker: Annotated[str, Query(max_length=300)] = "",
    talk: Annotated[str, Query(max_length=TALK_ID_MAX_LENGTH)] = "",
) -> Response:
    facets = await guarded(request, _facets, state)
    if isinstance(facets, Response):
        return facets
    result, problem = None, None
    if q.strip():
        request_body = QuestionRequest(question=q, event=event or None, speaker=speaker or None, talk=talk or None)
        try:
            result = await run_in_threadpool(answer, state, request_body)
        except TalksError as error:
            problem = str(error)
    return render(
        request,
        "ask.html",
        title="Ask",
        q=q,
        event=event,
        speaker=speaker,
        talk=talk,
        answer=result,
        problem=problem,
        **facets,
    )


def _facets(state: ServerState) -> dict:
    talks = state.library.talks()
    return {
        "events": sorted({t.talk.event for t in talks if t.talk.event}),
        "talks": {t.talk.id: t.talk for t in talks},
    }


@router.get("/events/{event}", response_class=HTMLResponse)
async def event_page(request: Request, event: str, state: State) -> Response:
    digest = await guarded(request, state.digest, event[:300])
    if isinstance(digest, Response):
        return digest
    talks = {talk.id: talk for talk in digest.talks}
    return render(request, "event.html", title=digest.event, digest=digest, talks=talks)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


__all__ = ["router"]
