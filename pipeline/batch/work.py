"""The work on one talk, the same in every engine: load (YouTube fetch or file read, then parse), ingest (clean,
chunk, embed, write to the chunk store), recap; the stage timings recorded for it and the outcome it ends in."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from haystack import tracing
from haystack.tracing import Span, Tracer

from pipeline.batch.manifest import BatchError, ManifestRow
from pipeline.batch.options import BatchOptions
from pipeline.ingest import Ingestor
from pipeline.models import TalkRecap, Transcript
from pipeline.recap import Recapper
from pipeline.render import render_recap
from pipeline.sources.base import SourceError
from pipeline.sources.youtube import FetchedYouTube, YouTubeFetcher
from pipeline.workspace import atomic_write, check_talk_id, inside

_STAGES = {"cleaner": "clean", "chunker": "chunk", "embedder": "embed", "writer": "write"}

OutcomeStatus = Literal["done", "failed", "pending", "skipped", "previously failed"]
FetcherKey = tuple[tuple[str, ...], str | None]


# -- outcomes -----------------------------------------------------------------------------------------------------


@dataclass
class TalkOutcome:
    """What happened to one talk in this run. `attempted`: it was fetched or processed (counts as an attempt)."""

    talk_id: str
    line: int
    source: str
    status: OutcomeStatus
    reason: str | None = None
    stage: str | None = None
    chunks: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    attempted: bool = False
    retryable: bool = False

    @property
    def seconds(self) -> float:
        return self.timings.get("total", 0.0)


@dataclass
class Job:
    row: ManifestRow
    recap_only: bool = False  # done and unchanged, but its recap files are missing


def make_outcome(row: ManifestRow, status: OutcomeStatus, **values: Any) -> TalkOutcome:
    return TalkOutcome(talk_id=row.talk_id, line=row.line, source=row.source, status=status, **values)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


# -- stage timings ------------------------------------------------------------------------------------------------

_clock = threading.local()  # `timings`: the dict the current thread's stages add their seconds to


def _add_time(stage: str, seconds: float) -> None:
    timings = getattr(_clock, "timings", None)
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + seconds


@contextlib.contextmanager
def timing(timings: dict[str, float], stage: str | None = None) -> Iterator[None]:
    """Stages timed inside this block add to `timings`; with `stage`, the whole block counts as that one stage
    (so the components a recap runs do not count twice)."""
    previous = getattr(_clock, "timings", None)
    _clock.timings = {} if stage else timings
    started = time.perf_counter()
    try:
        yield
    finally:
        _clock.timings = previous
        if stage:
            timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


class _StageTracer(Tracer):
    """Times each Haystack component run (clean, chunk, embed, write) and passes spans on to the tracer it wraps."""

    def __init__(self, inner: Tracer) -> None:
        self.inner = inner

    @contextlib.contextmanager
    def trace(self, operation_name: str, tags: dict[str, Any] | None = None, parent_span: Span | None = None):
        started = time.perf_counter()
        try:
            with self.inner.trace(operation_name, tags=tags, parent_span=parent_span) as span:
                yield span
        finally:
            if operation_name == "haystack.component.run":
                name = str((tags or {}).get("haystack.component.name"))
                _add_time(_STAGES.get(name, name), time.perf_counter() - started)

    def current_span(self) -> Span | None:
        return self.inner.current_span()


@contextlib.contextmanager
def component_timings() -> Iterator[None]:
    """Haystack component runs count as stages while this block runs."""
    previous = tracing.tracer.actual_tracer
    tracing.tracer.actual_tracer = _StageTracer(previous)
    try:
        yield
    finally:
        tracing.tracer.actual_tracer = previous


def install_component_timings() -> None:
    """Haystack component runs count as stages from now on, in this process (a Ray worker)."""
    if not isinstance(tracing.tracer.actual_tracer, _StageTracer):
        tracing.tracer.actual_tracer = _StageTracer(tracing.tracer.actual_tracer)


def threads_per_worker(jobs: int) -> int | None:
    """`cpus // jobs` torch threads per worker when N > 1 workers share this machine's cores, None to leave torch's
    default (one worker, or `OMP_NUM_THREADS` set)."""
    if jobs <= 1 or "OMP_NUM_THREADS" in os.environ:
        return None
    return max(1, (os.cpu_count() or 1) // jobs)


@contextlib.contextmanager
def torch_threads(jobs: int) -> Iterator[int]:
    """`cpus // jobs` torch threads per worker while the batch runs, so N workers do not oversubscribe the cores.

    Yields the threads each worker gets."""
    import torch

    previous = torch.get_num_threads()
    wanted = threads_per_worker(jobs)
    change = wanted is not None and wanted < previous
    if change:
        torch.set_num_threads(wanted)
    try:
        yield wanted if change else previous
    finally:
        if change:
            torch.set_num_threads(previous)


# -- loading ------------------------------------------------------------------------------------------------------


class _TimedFetcher(YouTubeFetcher):
    """A `YouTubeFetcher` whose fetch time (network or cache) counts as the `fetch` stage, and whose retry lines
    (logged at WARNING: a batch has no progress line that shows them) name the talk being fetched."""

    _talk = threading.local()  # the fetch threads share a fetcher: each thread's talk

    @contextlib.contextmanager
    def for_talk(self, talk_id: str) -> Iterator[None]:
        self._talk.id = talk_id
        try:
            yield
        finally:
            self._talk.id = None

    def retry_where(self, where: str) -> str:
        talk_id = getattr(self._talk, "id", None)
        return f"talk {talk_id} ({where})" if talk_id else where

    def fetch(self, video_id: str) -> FetchedYouTube:
        started = time.perf_counter()
        try:
            return super().fetch(video_id)
        finally:
            _add_time("fetch", time.perf_counter() - started)


def fetcher_key(row: ManifestRow, options: BatchOptions) -> FetcherKey:
    """The caption request of a row: its own languages and translation, else the batch's."""
    return tuple(row.languages or options.languages), row.translate or options.translate


def youtube_session(options: BatchOptions) -> Any:
    """The `requests.Session` for YouTube (tests): given as a session, or as a factory called in each process (a
    session subclass with attributes of its own does not survive pickling into a Ray worker)."""
    client = options.http_client
    return client() if callable(client) else client


def make_fetcher(key: FetcherKey, options: BatchOptions, cache_dir: Path, client: Any = None) -> YouTubeFetcher:
    """A timed fetcher for one caption request; a bad proxy raises `BatchError`."""
    try:
        return _TimedFetcher(
            languages=list(key[0]),
            translate_to=key[1],
            proxy=options.proxy,
            http_client=client,
            cache_dir=cache_dir,
            refresh=options.refresh,
            **options.youtube_options,
        )
    except SourceError as error:
        raise BatchError(str(error)) from None


def load_transcript(job: Job, fetcher: YouTubeFetcher | None, timings: dict[str, float]) -> Transcript | TalkOutcome:
    """Fetch or read a talk's source and parse it (stages `fetch`, `parse`). A failure becomes the talk's outcome:
    failed, or pending and `retryable` when YouTube blocks or the network is down (the batch then stops fetching)."""
    from pipeline.sources import load_source

    started = time.perf_counter()
    try:
        talk = fetcher.for_talk(job.row.talk_id) if isinstance(fetcher, _TimedFetcher) else contextlib.nullcontext()
        with timing(timings), talk:
            transcript = load_source(job.row.location, job.row.metadata, fetcher)
    except SourceError as error:
        status: OutcomeStatus = "pending" if error.retryable else "failed"
        reason = error.problem
    except Exception as error:
        status, reason = "failed", f"unexpected error: {first_line(error)}"
    else:
        timings["parse"] = time.perf_counter() - started - timings.get("fetch", 0.0)
        return transcript
    timings["total"] = sum(timings.values())
    return make_outcome(
        job.row, status, reason=reason, stage="load", timings=timings, attempted=True, retryable=status == "pending"
    )


# -- ingest and recap ---------------------------------------------------------------------------------------------


class StageError(Exception):
    """A talk failed in `stage` (ingest or recap); `reason` is the error's first line."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"{stage}: {first_line(error)}")
        self.stage = stage
        self.reason = first_line(error)


def ingest_and_recap(
    talk_id: str,
    transcript: Transcript | None,
    ingestor: Ingestor,
    recapper: Recapper,
    timings: dict[str, float],
    stored: Transcript | None = None,
) -> tuple[int | None, TalkRecap]:
    """Ingest `transcript` (clean, chunk, embed, write: transcript to the workspace, chunks to the store) unless it
    is None (a recap-only job), then recap the stored transcript (`stored`, else the workspace's). Returns the
    chunk count (None for recap-only) and the recap; raises `StageError` naming the stage that failed."""
    stage, chunks = "ingest", None
    try:
        with timing(timings):
            if transcript is not None:
                chunks = ingestor.ingest(transcript).chunks
            stage = "recap"
            with timing(timings, "recap"):
                recap = recapper.recap_transcript(stored) if stored is not None else recapper.recap(talk_id)
    except Exception as error:
        raise StageError(stage, error) from error
    return chunks, recap


def write_recap_files(out_dir: Path, recap: TalkRecap, timings: dict[str, float]) -> None:
    """`<id>.json` (the `TalkRecap`) and `<id>.md` (the draft) in `out_dir`, each written atomically (`render`)."""
    talk_id = check_talk_id(recap.talk.id)  # the files are named from the id: never outside `out_dir`
    with timing(timings, "render"):
        markdown = render_recap(recap)
        atomic_write(inside(out_dir, out_dir / f"{talk_id}.json"), recap.model_dump_json(indent=2).encode())
        atomic_write(inside(out_dir, out_dir / f"{talk_id}.md"), markdown.encode())
