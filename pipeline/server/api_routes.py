"""The REST API (`/api/...`). Handlers are plain functions (FastAPI runs them in its thread pool) calling the one
warm `Library`; bodies are the pydantic models of `pipeline.models` and `pipeline.server.schemas`."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from pipeline.api import TalksError
from pipeline.models import (
    TALK_ID_MAX_LENGTH,
    TALK_ID_PATTERN,
    Answer,
    AskRequest,
    EventDigest,
    RecapStyle,
    RemovedTalk,
    Talk,
    TalkInfo,
    TalkRecap,
    Theme,
)
from pipeline.server.app import ServerState, state_of
from pipeline.server.drafts import DraftConflict, apply_edit, draft_as_recap, draft_from_recap
from pipeline.server.jobs import JOB_ID_PATTERN
from pipeline.server.schemas import (
    FINISHED,
    AnswersResponse,
    DraftEdit,
    EventInfo,
    Format,
    JobItem,
    JobView,
    Message,
    QuestionRequest,
    QuestionsRequest,
    RecapDraft,
    TranscriptSpan,
    YouTubeIngestRequest,
)

ERRORS = {400: {"model": Message}, 404: {"model": Message}, 409: {"model": Message}, 422: {"model": Message}}
router = APIRouter(prefix="/api", responses={401: {"model": Message}, 403: {"model": Message}})
TalkIdParam = Annotated[str, PathParam(pattern=TALK_ID_PATTERN, max_length=TALK_ID_MAX_LENGTH, description="Talk id.")]
JobIdParam = Annotated[str, PathParam(pattern=JOB_ID_PATTERN, description="Job id.")]
State = Annotated[ServerState, Depends(state_of)]
TRANSCRIPT_SUFFIXES = (".vtt", ".srt", ".json", ".txt")
SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json")
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".yaml", ".yml")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


# -- talks --------------------------------------------------------------------------------------------------------


@router.get("/talks", response_model=list[TalkInfo], tags=["talks"])
def list_talks(
    state: State,
    event: Annotated[str | None, Query(description="Only this event (case-insensitive).")] = None,
    speaker: Annotated[str | None, Query(description="Only talks with a speaker whose name contains this.")] = None,
) -> list[TalkInfo]:
    talks = state.library.talks()
    if event:
        talks = [t for t in talks if (t.talk.event or "").lower() == event.lower()]
    if speaker:
        talks = [t for t in talks if any(speaker.lower() in name.lower() for name in t.talk.speakers)]
    return talks


@router.get("/talks/{talk_id}", response_model=TalkInfo, responses=ERRORS, tags=["talks"])
def get_talk(talk_id: TalkIdParam, state: State) -> TalkInfo:
    state.library.transcript(talk_id)  # not_found names the known talks
    for info in state.library.talks():
        if info.talk.id == talk_id:
            return info
    raise TalksError(f"no talk '{talk_id}'", "not_found")


@router.delete("/talks/{talk_id}", response_model=RemovedTalk, responses=ERRORS, tags=["talks"])
def delete_talk(talk_id: TalkIdParam, state: State) -> RemovedTalk:
    removed = state.library.remove(talk_id)
    state.drafts.remove(talk_id)
    return removed


@router.get("/talks/{talk_id}/transcript", response_model=TranscriptSpan, responses=ERRORS, tags=["talks"])
def transcript(
    talk_id: TalkIdParam,
    state: State,
    first: Annotated[int | None, Query(ge=0, description="First segment index (default 0).")] = None,
    last: Annotated[int | None, Query(ge=0, description="Last segment index, included (default: the end).")] = None,
) -> TranscriptSpan:
    whole = state.library.transcript(talk_id)
    return transcript_span(whole, first, last)


def transcript_span(whole, first: int | None, last: int | None) -> TranscriptSpan:
    count = len(whole.segments)
    start = first or 0
    end = count - 1 if last is None else min(last, count - 1)
    if count and (start >= count or end < start):
        raise TalksError(f"segments {start}..{last} are outside talk '{whole.talk.id}' (0..{count - 1})")
    return TranscriptSpan(
        talk=whole.talk,
        first_segment=start,
        last_segment=max(end, start),
        total_segments=count,
        segments=whole.segments[start : end + 1],
    )


# -- themes, recaps, digests --------------------------------------------------------------------------------------


def generator_config(state: ServerState, generator: str | None, model: str | None):
    """The request's generator settings (None: the library's own)."""
    if not generator and not model:
        return None
    from pipeline.llm.settings import GeneratorConfig, GeneratorError

    try:
        return GeneratorConfig.resolve(backend=generator, model=model, workspace=state.library.workspace.root)
    except GeneratorError as error:
        raise TalksError(str(error)) from None


Count = Annotated[int | None, Query(ge=1, le=20, description="How many themes; default: chosen from the talk.")]
Generator = Annotated[str | None, Query(description="extractive (default), llama-cpp or openai.")]
Model = Annotated[str | None, Query(description="The LLM's model (llama-cpp: GGUF path or installed name).")]
FormatQuery = Annotated[Format, Query(description="md (the Markdown draft) or json (the model).")]
StyleQuery = Annotated[RecapStyle, Query(description="bullets (the default) or prose (a post: paragraphs per theme).")]


def _rendered(state: ServerState, result: TalkRecap | EventDigest, output_format: str) -> Response:
    text = state.library.render(result, output_format)
    media = "text/markdown; charset=utf-8" if output_format == "md" else "application/json"
    return Response(text, media_type=media)


@router.get(
    "/talks/{talk_id}/recap",
    responses={**ERRORS, 200: {"model": TalkRecap, "content": {"text/markdown": {}}}},
    tags=["recaps"],
)
def recap(
    talk_id: TalkIdParam,
    state: State,
    format: FormatQuery = "json",
    themes: Count = None,
    generator: Generator = None,
    model: Model = None,
    style: StyleQuery = "bullets",
) -> Response:
    """A freshly generated recap (not the writer's draft): the `TalkRecap`, or its Markdown draft."""
    config = generator_config(state, generator, model)
    result = state.library.recap(talk_id, count=themes, generator=config, style=style)
    return _rendered(state, result, format)


@router.get("/talks/{talk_id}/themes", response_model=list[Theme], responses=ERRORS, tags=["recaps"])
def talk_themes(
    talk_id: TalkIdParam, state: State, themes: Count = None, generator: Generator = None, model: Model = None
) -> list[Theme]:
    return state.library.themes(talk_id, count=themes, generator=generator_config(state, generator, model))


@router.get("/events", response_model=list[EventInfo], tags=["recaps"])
def events(state: State) -> list[EventInfo]:
    grouped: dict[str, list[str]] = {}
    for info in state.library.talks():
        if info.talk.event:
            grouped.setdefault(info.talk.event, []).append(info.talk.id)
    return [EventInfo(event=name, talks=ids) for name, ids in sorted(grouped.items())]


@router.get(
    "/events/{event}/digest",
    responses={**ERRORS, 200: {"model": EventDigest, "content": {"text/markdown": {}}}},
    tags=["recaps"],
)
def digest(
    event: Annotated[str, PathParam(max_length=300)],
    state: State,
    format: FormatQuery = "json",
    themes: Count = None,
    generator: Generator = None,
    model: Model = None,
) -> Response:
    """The event's digest: the themes across its talks."""
    config = generator_config(state, generator, model)
    result = (
        state.digest(event)
        if config is None and themes is None
        else state.library.digest(event, count=themes, generator=config)
    )
    return _rendered(state, result, format)


# -- the writer's draft -------------------------------------------------------------------------------------------


def load_draft(state: ServerState, talk_id: str) -> RecapDraft:
    """The talk's draft; the first time, made from a freshly generated recap and saved."""
    draft = state.drafts.load(talk_id)
    if draft is None:
        draft = state.drafts.save(draft_from_recap(state.library.recap(talk_id)))
    return draft


@router.get("/talks/{talk_id}/draft", response_model=RecapDraft, responses=ERRORS, tags=["drafts"])
def get_draft(talk_id: TalkIdParam, state: State) -> RecapDraft:
    """The writer's draft of the talk's recap (made from the generated recap on first use)."""
    return load_draft(state, talk_id)


@router.put("/talks/{talk_id}/draft", response_model=RecapDraft, responses=ERRORS, tags=["drafts"])
def save_draft(talk_id: TalkIdParam, edit: DraftEdit, state: State) -> RecapDraft:
    """Saves the writer's edits (overview, theme titles and order, takeaways, quotes, pins). A quote whose text
    differs from the verified original comes back with `verbatim: false`."""
    return state.drafts.save(apply_edit(load_draft(state, talk_id), edit))


@router.post("/talks/{talk_id}/draft/regenerate", response_model=RecapDraft, responses=ERRORS, tags=["drafts"])
def regenerate_draft(
    talk_id: TalkIdParam,
    state: State,
    overwrite: Annotated[bool, Query(description="Replace a draft that has the writer's edits.")] = False,
    themes: Count = None,
    generator: Generator = None,
    model: Model = None,
) -> RecapDraft:
    """A new draft from a newly generated recap; refused (409) when the draft has edits, unless `overwrite`."""
    current = state.drafts.load(talk_id)
    if current is not None and current.edited and not overwrite:
        raise DraftConflict(f"the draft of '{talk_id}' has your edits: regenerate with overwrite=true to replace them")
    fresh = state.library.recap(talk_id, count=themes, generator=generator_config(state, generator, model))
    return state.drafts.save(draft_from_recap(fresh))


@router.get(
    "/talks/{talk_id}/draft.md",
    response_class=PlainTextResponse,
    responses={**ERRORS, 200: {"content": {"text/markdown": {}}}},
    tags=["drafts"],
)
def draft_markdown(
    talk_id: TalkIdParam,
    state: State,
    download: Annotated[bool, Query(description="As a file download.")] = False,
) -> Response:
    """The draft as Markdown, the writer's edits included."""
    text = state.library.render(draft_as_recap(load_draft(state, talk_id)), "md")
    headers = {"Content-Disposition": f'attachment; filename="{talk_id}.md"'} if download else {}
    return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)


@router.delete("/talks/{talk_id}/draft", response_model=Message, responses=ERRORS, tags=["drafts"])
def delete_draft(talk_id: TalkIdParam, state: State) -> Message:
    state.library.transcript(talk_id)
    state.drafts.remove(talk_id)
    return Message(detail=f"draft of {talk_id} removed")


# -- questions ----------------------------------------------------------------------------------------------------


def answer(state: ServerState, request: QuestionRequest) -> Answer:
    asked = AskRequest(**request.model_dump(include=set(AskRequest.model_fields)))
    return state.library.ask(asked, generator=generator_config(state, request.generator, request.model))


@router.post("/ask", response_model=Answer, responses=ERRORS, tags=["questions"])
def ask(request: QuestionRequest, state: State) -> Answer:
    """One question across the talks (or the filtered ones): the best passages with timestamps and links, and an
    answer citing them as [n]."""
    return answer(state, request)


@router.post("/ask/batch", response_model=AnswersResponse, responses=ERRORS, tags=["questions"])
def ask_batch(request: QuestionsRequest, state: State) -> AnswersResponse:
    """Many questions; one that cannot be asked gets an `Answer` with `error`, the others go on."""
    if len(request.questions) > state.settings.max_questions:
        raise HTTPException(413, f"at most {state.settings.max_questions} questions in one call")
    answers = []
    for item in request.questions:
        try:
            answers.append(answer(state, item))
        except TalksError as error:
            if error.kind == "unavailable":
                raise
            answers.append(Answer(question=item.question, error=str(error)))
    return AnswersResponse(answers=answers)


# -- ingest and batch jobs ----------------------------------------------------------------------------------------


def safe_name(name: str | None) -> str:
    """An uploaded file's own name, reduced to a plain file name (no folders, no unsafe characters)."""
    base = Path((name or "").replace("\\", "/")).name
    cleaned = _UNSAFE_NAME.sub("-", base).lstrip(".-")
    if not cleaned:
        raise HTTPException(400, f"'{name}': not a usable file name")
    return cleaned[:200]


async def _save_uploads(state: ServerState, files: list[UploadFile], folder: Path, allowed: tuple[str, ...]):
    """Writes the uploads into the job's folder within the size and count limits; returns their names."""
    settings = state.settings
    if not files:
        raise HTTPException(400, "no files were uploaded")
    if len(files) > settings.max_upload_files:
        raise HTTPException(413, f"{len(files)} files: at most {settings.max_upload_files} in one upload")
    names = []
    folder.mkdir(parents=True, exist_ok=True)
    for upload in files:
        name = safe_name(upload.filename)
        if not name.lower().endswith(allowed):
            raise HTTPException(400, f"{name}: unsupported file type (expected {', '.join(allowed)})")
        data = await upload.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, f"{name}: larger than the upload limit ({settings.max_upload_bytes:,} bytes)")
        if name in names:
            raise HTTPException(400, f"{name}: uploaded twice")
        (folder / name).write_bytes(data)
        names.append(name)
    return names


def _check_transcripts(folder: Path, names: list[str]) -> tuple[list[str], list[JobItem]]:
    """Parses each uploaded transcript with the CLI's parsers: the sources to ingest, and one item a file (a bad
    file is a failed item with the CLI's one-line message, naming the file by its own name)."""
    from pipeline.sources import load_source
    from pipeline.sources.base import SourceError

    sources, items = [], []
    for name in names:
        if name.lower().endswith(SIDECAR_SUFFIXES):
            continue
        path = folder / name
        try:
            talk = load_source(str(path), None, None).talk
        except SourceError as error:
            items.append(JobItem(name=name, status="failed", message=f"{name}: {error.problem}"))
            continue
        sources.append(str(path))
        items.append(JobItem(name=name, talk_id=talk.id))
    return sources, items


@router.post("/ingest/files", response_model=JobView, status_code=202, responses=ERRORS, tags=["jobs"])
async def ingest_files(
    state: State,
    files: Annotated[list[UploadFile], File(description="Caption files (.vtt .srt .json .txt) and sidecars.")],
    event: Annotated[str | None, Form(max_length=300)] = None,
) -> JobView:
    """Uploads caption files (with any `NAME.meta.yaml` sidecars) and ingests them in a background job. A file the
    parsers reject is a failed item with its one-line reason; when no file is usable the upload is a 400."""
    job_id = state.jobs.new_id()
    folder = state.jobs.upload_dir(job_id)
    try:
        names = await _save_uploads(state, files, folder, TRANSCRIPT_SUFFIXES + SIDECAR_SUFFIXES)
        sources, items = await run_in_threadpool(_check_transcripts, folder, names)
        if not items:
            raise HTTPException(400, "no transcript files among the uploads (only sidecars)")
        if not sources:
            raise HTTPException(400, "; ".join(item.message or item.name for item in items))
    except HTTPException:
        state.jobs.remove_uploads(job_id)
        raise
    ordered = [item for item in items if item.status != "failed"] + [i for i in items if i.status == "failed"]
    params = {"sources": sources, "options": {"event": event} if event else {}}
    return JobView.of(state.jobs.submit("ingest", params, ordered, job_id=job_id))


@router.post("/ingest/youtube", response_model=JobView, status_code=202, responses=ERRORS, tags=["jobs"])
def ingest_youtube(request: YouTubeIngestRequest, state: State) -> JobView:
    """Fetches YouTube captions (languages in priority order) and ingests them in a background job."""
    from pipeline.sources.youtube import parse_video_id

    ids = []
    for video in request.videos:
        video_id = parse_video_id(video.strip())
        if video_id is None:
            raise HTTPException(400, f"{video.strip()[:100]}: not a YouTube URL or video id")
        ids.append(video_id)
    languages = [code.strip() for code in request.languages.split(",") if code.strip()] or ["en"]
    if any(not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?", code) for code in languages):
        raise HTTPException(400, f"'{request.languages}': languages are codes like en or de,en")
    options = {"languages": languages, "translate": request.translate, "event": request.event}
    items = [JobItem(name=video_id, talk_id=video_id) for video_id in dict.fromkeys(ids)]
    params = {"sources": [item.name for item in items], "options": options}
    return JobView.of(state.jobs.submit("ingest", params, items))


@router.post("/batch", response_model=JobView, status_code=202, responses=ERRORS, tags=["jobs"])
async def batch(
    state: State,
    manifest: Annotated[UploadFile, File(description="The manifest: CSV, JSON Lines or YAML.")],
    files: Annotated[list[UploadFile] | None, File(description="The transcript files it names.")] = None,
    jobs: Annotated[int, Form(ge=1, le=4)] = 1,
    languages: Annotated[str, Form(max_length=100)] = "en",
) -> JobView:
    """Runs a manifest like `talks batch` in a background job: per-talk progress, the same report, and resume (the
    batch's state file) after a cancel or a server restart. Files must be uploaded with the manifest: a row naming
    a file outside the upload is refused."""
    from pipeline.batch import BatchError, read_manifest

    job_id = state.jobs.new_id()
    folder = state.jobs.upload_dir(job_id)
    try:
        (name,) = await _save_uploads(state, [manifest], folder, MANIFEST_SUFFIXES)
        if files:
            await _save_uploads(state, files, folder, TRANSCRIPT_SUFFIXES + SIDECAR_SUFFIXES)
        try:
            parsed = await run_in_threadpool(read_manifest, folder / name)
        except BatchError as error:
            raise HTTPException(400, str(error).replace(str(folder) + "/", "")) from None
        inside = folder.resolve()
        for row in parsed.rows:
            if not row.video_id and not Path(row.location).resolve().is_relative_to(inside):
                raise HTTPException(400, f"{name}: line {row.line}: '{row.source}' is not among the uploaded files")
        if not parsed.rows:
            problems = "; ".join(str(p) for p in parsed.problems)
            raise HTTPException(400, f"{name}: no usable rows" + (f" ({problems})" if problems else ""))
    except HTTPException:
        state.jobs.remove_uploads(job_id)
        raise
    items = [JobItem(name=row.talk_id, talk_id=row.talk_id) for row in parsed.rows]
    params = {"manifest": str(folder / name), "jobs": jobs, "languages": languages}
    return JobView.of(state.jobs.submit("batch", params, items, job_id=job_id))


@router.get("/jobs", response_model=list[JobView], tags=["jobs"])
def list_jobs(state: State) -> list[JobView]:
    return [JobView.of(job) for job in state.jobs.list()]


@router.get("/jobs/{job_id}", response_model=JobView, responses=ERRORS, tags=["jobs"])
def get_job(job_id: JobIdParam, state: State) -> JobView:
    """A job's status and per-item progress (poll this, or follow `/events`)."""
    return JobView.of(state.jobs.get(job_id))


@router.get("/jobs/{job_id}/events", responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}}, tags=["jobs"])
async def job_events(job_id: JobIdParam, request: Request, state: State) -> StreamingResponse:
    """Server-sent events: a `job` event (the `JobView`) whenever the job changes, then `end` once it finished."""
    job = state.jobs.get(job_id)

    async def stream():
        version = -1
        current = job
        while True:
            if current.version != version:
                version = current.version
                yield f"event: job\ndata: {JobView.of(current).model_dump_json()}\n\n"
                if current.status in FINISHED:
                    yield f"event: end\ndata: {json.dumps({'status': current.status})}\n\n"
                    return
            else:
                yield ": keep-alive\n\n"
            if await request.is_disconnected():
                return
            current = await run_in_threadpool(state.jobs.wait_change, job_id, version, 5.0)
            await asyncio.sleep(0)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.post("/jobs/{job_id}/cancel", response_model=JobView, responses=ERRORS, tags=["jobs"])
def cancel_job(job_id: JobIdParam, state: State) -> JobView:
    """Stops a job: an ingest after the talk in progress, a batch as Ctrl-C does (talks in flight finish)."""
    return JobView.of(state.jobs.cancel(job_id))


@router.post("/jobs/{job_id}/resume", response_model=JobView, responses=ERRORS, tags=["jobs"])
def resume_job(job_id: JobIdParam, state: State) -> JobView:
    """Runs an interrupted (server restart), cancelled or failed job again; what is done is skipped."""
    return JobView.of(state.jobs.resume(job_id))


@router.get("/health", response_model=Message, tags=["server"])
def health(state: State) -> Message:
    return Message(detail=f"ok: {len(state.library.talk_ids())} talks")


__all__ = ["Talk", "answer", "load_draft", "router", "transcript_span"]
