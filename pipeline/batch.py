"""Batch-process a whole conference from a manifest, with progress, per-talk state and resume.

A manifest (CSV, JSON Lines or YAML) lists talks; `run_batch` ingests each one and, when `pipeline.recap` is
installed, writes its recap (`<id>.json`) and Markdown draft (`<id>.md`) to the output folder.

How the work flows (`--jobs N`):

    manifest rows ─► plan (state file: skip done, skip failed unless --retry-failed)
                 ─► N fetch threads: YouTube fetch / file read + parse → Transcript      (I/O, GIL released)
                 ─► bounded queue (N deep: fetches run at most ~2N talks ahead)
                 ─► N workers, each with its own Ingestor (clean, chunk, embed, write) and Recapper
                 ─► main thread: progress bar and state file, one atomic update per talk

Fetching and computing run in separate threads, so a slow YouTube reply never idles a worker and a long
embedding never stalls the fetches; the queue bounds memory. Haystack components may not be thread-safe, so each
worker owns its pipelines; the embedding model is loaded once and shared in-process. Models are warmed up one by
one in the main thread (the backend cache is not thread-safe). With N > 1 workers torch gets `cpus // N` threads
each, so N workers do not oversubscribe the cores (unless `OMP_NUM_THREADS` is set).

State: `<workspace>/batch/<manifest-stem>-<hash of its absolute path>.json` records each talk's status (pending,
done, failed), reason, attempts, a hash of its manifest row and stage timings. Every update re-reads the file and
merges under a file lock, then replaces it atomically, so a kill at any moment keeps everything recorded and two
processes never clobber each other. A YouTube block (or no network) stops fetching: what is in flight finishes,
the rest stays pending, and running the same command again resumes.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

import yaml
from filelock import FileLock, Timeout
from haystack import tracing
from haystack.tracing import Span, Tracer
from pydantic import BaseModel, Field, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pipeline.ingest import Ingestor
from pipeline.models import Talk, Transcript
from pipeline.recap import Recapper
from pipeline.render import render_recap
from pipeline.sources.base import SourceError
from pipeline.sources.files import talk_id_from
from pipeline.sources.youtube import FetchedYouTube, YouTubeFetcher, parse_video_id
from pipeline.workspace import Workspace, atomic_write, resolve_workspace

STATE_FORMAT = 1
MAX_JOBS = 32
MAX_FETCH_THREADS = 4  # YouTube punishes bursts; local files need no more
MANIFEST_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".yaml": "yaml", ".yml": "yaml"}
KNOWN_KEYS = ("source", "id", "title", "speakers", "event", "date", "language", "translate")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_STAGES = {"cleaner": "clean", "chunker": "chunk", "embedder": "embed", "writer": "write"}

Status = Literal["pending", "done", "failed"]


class BatchError(Exception):
    """The batch cannot start (unreadable manifest, bad proxy, damaged state); the message says why."""


# -- the manifest -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManifestProblem:
    """A manifest row that was skipped, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class ManifestRow:
    """One talk of the manifest. `location` is the resolved file path or the video's watch URL; `metadata` holds
    the `Talk` fields and extra columns that override what the source says."""

    line: int
    talk_id: str
    source: str
    location: str
    video_id: str | None
    metadata: dict[str, Any]
    languages: tuple[str, ...] | None = None
    translate: str | None = None

    def fingerprint(self, languages: Sequence[str], translate: str | None) -> str:
        """A hash of everything that decides this talk's result; a changed row is processed again."""
        data: dict[str, Any] = {"source": self.source, "metadata": self.metadata}
        if self.video_id:
            data["request"] = {"languages": list(self.languages or languages), "translate": self.translate or translate}
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Manifest:
    path: Path
    rows: list[ManifestRow]
    problems: list[ManifestProblem]


class _RowError(ValueError):
    """A malformed row; the message is the problem."""


def read_manifest(path: Path) -> Manifest:
    """The rows of a CSV, JSON Lines or YAML manifest; malformed rows become problems with their line number."""
    kind = MANIFEST_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise BatchError(f"{path}: unsupported manifest type '{path.suffix}' (expected .csv, .jsonl or .yaml)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BatchError(f"{path}: cannot read manifest ({error})") from None
    readers = {"csv": _csv_items, "jsonl": _jsonl_items, "yaml": _yaml_items}
    rows: list[ManifestRow] = []
    problems: list[ManifestProblem] = []
    first_line: dict[str, int] = {}
    for line, item in readers[kind](text, path):
        try:
            if isinstance(item, Exception):
                raise _RowError(str(item))
            if all(value in (None, "") for value in item.values()):
                continue  # a blank row
            row = _parse_row(item, line, path.parent)
            if row.talk_id in first_line:
                raise _RowError(f"duplicate talk id '{row.talk_id}' (first on line {first_line[row.talk_id]})")
        except _RowError as error:
            problems.append(ManifestProblem(line, str(error)))
            continue
        first_line[row.talk_id] = line
        rows.append(row)
    if not rows and not problems:
        raise BatchError(f"{path}: no talks in manifest")
    return Manifest(path, rows, problems)


def _csv_items(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Rows as mappings of the header's columns, each with the line it starts on (quoted fields may span lines)."""
    reading = 0

    def lines() -> Iterator[str]:
        nonlocal reading
        for reading, content in enumerate(io.StringIO(text, newline=""), 1):  # noqa: B007 - read by the loop below
            yield content

    reader = csv.reader(lines())
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as error:
        raise BatchError(f"{path}: line 1: unreadable CSV header ({error})") from None
    if "source" not in {name.lower() for name in header}:
        raise BatchError(f"{path}: line 1: the header has no 'source' column (columns: {', '.join(header) or 'none'})")
    while True:
        line = reading + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield line, _RowError(f"unreadable CSV ({error})")
            continue
        if not fields:
            continue  # a blank line
        if len(fields) > len(header):
            yield line, _RowError(f"{len(fields)} fields, but the header has {len(header)}")
        else:
            yield line, dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True))


def _jsonl_items(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    for line, content in enumerate(text.splitlines(), 1):
        if not content.strip():
            continue
        try:
            item = json.loads(content)
        except json.JSONDecodeError as error:
            yield line, _RowError(f"not JSON ({error.msg} at column {error.colno})")
            continue
        yield line, item if isinstance(item, dict) else _RowError("not a JSON object")


def _yaml_items(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Each talk of a YAML list, or of a mapping's `talks:` list (its other keys are defaults for every talk).

    Items are built one by one, so a bad value (such as an impossible date) costs only its own row."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as error:
            raise BatchError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
        defaults: dict[str, Any] = {}
        items = root
        if isinstance(root, yaml.MappingNode):
            items = next((value for key, value in root.value if key.value == "talks"), None)
            for key, value in root.value:
                if key.value != "talks":
                    defaults[str(loader.construct_object(key, deep=True))] = loader.construct_object(value, deep=True)
        if not isinstance(items, yaml.SequenceNode):
            raise BatchError(f"{path}: a YAML manifest is a list of talks, or a mapping with a 'talks:' list")
        for node in items.value:
            line = node.start_mark.line + 1
            try:
                item = loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError) as error:
                yield line, _RowError(f"bad value ({' '.join(str(error).split())})")
                continue
            yield line, {**defaults, **item} if isinstance(item, dict) else _RowError("not a mapping of keys to values")
    finally:
        loader.dispose()


def _parse_row(raw: Mapping[Any, Any], line: int, base: Path) -> ManifestRow:
    """A validated row; raises `_RowError` naming the problem."""
    item: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).strip()
        name = name.lower() if name.lower() in KNOWN_KEYS else name
        item[name] = (value.strip() or None) if isinstance(value, str) else value
    source = _text(item.pop("source", None), "source")
    if not source:
        raise _RowError("missing 'source'")
    if "extra" in item:
        raise _RowError("'extra' is a reserved column name")
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base / path
    video_id = None if path.exists() else parse_video_id(source)
    location = f"https://www.youtube.com/watch?v={video_id}" if video_id else str(path)
    talk_id = _talk_id(item.pop("id", None), talk_id_from(video_id or Path(source).stem))
    languages = _languages(item.pop("language", None))
    translate = _languages(item.pop("translate", None))
    if translate and len(translate) > 1:
        raise _RowError("'translate' takes one language code")
    metadata: dict[str, Any] = {"id": talk_id}
    metadata["title"] = _text(item.pop("title", None), "title")
    metadata["speakers"] = _speakers(item.pop("speakers", None))
    metadata["event"] = _text(item.pop("event", None), "event")
    metadata["date"] = _date(item.pop("date", None))
    if languages and not video_id:
        metadata["language"] = languages[0]  # a file's language; for YouTube it is the caption priority
    for key, value in item.items():
        metadata[key] = _text(value, key)
    metadata = {key: value for key, value in metadata.items() if value not in (None, "", [])}
    return ManifestRow(
        line=line,
        talk_id=talk_id,
        source=source,
        location=location,
        video_id=video_id,
        metadata=metadata,
        languages=tuple(languages) if languages and video_id else None,
        translate=translate[0] if translate else None,
    )


def _text(value: Any, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float, bool, date)):
        return str(value)
    raise _RowError(f"'{key}' must be text, not {type(value).__name__}")


def _talk_id(value: Any, default: str) -> str:
    talk_id = _text(value, "id") or default
    try:
        Talk(id=talk_id)
    except ValidationError:
        raise _RowError(
            f"bad id '{talk_id}' (up to 128 letters, digits, '.', '_' and '-', starting with a letter or digit)"
        ) from None
    return talk_id


def _speakers(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [name.strip() for name in value.split(";") if name.strip()]
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return [name.strip() for name in value if name.strip()]
    raise _RowError("'speakers' must be a list of names (or names separated by ';')")


def _date(value: Any) -> date | None:
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, datetime):
        return value.date()
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise _RowError(f"bad date '{value}' (expected YYYY-MM-DD)") from None


def _languages(value: Any) -> list[str]:
    if value is None:
        return []
    codes = value.split(",") if isinstance(value, str) else value
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise _RowError("language codes must be text such as 'de,en' or a list of codes")
    codes = [code.strip() for code in codes if code.strip()]
    bad = [code for code in codes if not _LANGUAGE.match(code)]
    if bad:
        raise _RowError(f"bad language code '{bad[0]}' (expected e.g. en, de or pt-BR)")
    return codes


# -- the state file -----------------------------------------------------------------------------------------------


class TalkState(BaseModel):
    """What the batch knows about one talk."""

    status: Status = "pending"
    row_hash: str
    line: int
    source: str
    attempts: int = 0
    reason: str | None = None
    stage: str | None = Field(default=None, description="Where the last attempt failed: load, ingest or recap.")
    retryable: bool = False
    chunks: int | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage of the last attempt.")
    updated: datetime | None = None


class BatchState(BaseModel):
    format: int = STATE_FORMAT
    manifest: str
    talks: dict[str, TalkState] = Field(default_factory=dict)


class StateFile:
    """The batch state of one manifest: every update merges under a file lock and replaces the file atomically."""

    def __init__(self, workspace: Workspace, manifest: Path, timeout: float = 60) -> None:
        resolved = str(manifest.resolve())
        digest = hashlib.sha256(resolved.encode()).hexdigest()[:10]
        self.manifest = resolved
        self.path = workspace.batch_dir / f"{talk_id_from(manifest.stem)}-{digest}.json"
        self._lock = FileLock(workspace.batch_dir / f"{self.path.stem}.lock", timeout=timeout)
        self._thread_lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._thread_lock:
            try:
                with self._lock:
                    yield
            except Timeout:
                raise BatchError(f"{self.path}: locked by another process for too long") from None

    def load(self) -> BatchState:
        """The state as stored (empty when there is none yet). Leftover temporary files of a killed run go."""
        with self.locked():
            for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
            return self._read()

    def update(self, talks: Mapping[str, TalkState]) -> BatchState:
        """Merge these talks' entries into the stored state; returns the merged state."""
        with self.locked():
            state = self._read()
            state.talks.update(talks)
            atomic_write(self.path, state.model_dump_json(indent=1).encode())
            return state

    def _read(self) -> BatchState:
        if not self.path.exists():
            return BatchState(manifest=self.manifest)
        try:
            return BatchState.model_validate_json(self.path.read_bytes())
        except (ValidationError, OSError) as error:
            raise BatchError(f"{self.path}: damaged batch state ({error}); delete it to start over") from None


# -- stage timings ------------------------------------------------------------------------------------------------

_clock = threading.local()  # `timings`: the dict the current thread's stages add their seconds to


def _add_time(stage: str, seconds: float) -> None:
    timings = getattr(_clock, "timings", None)
    if timings is not None:
        timings[stage] = timings.get(stage, 0.0) + seconds


@contextlib.contextmanager
def _timing(timings: dict[str, float], stage: str | None = None) -> Iterator[None]:
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
def _component_timings() -> Iterator[None]:
    previous = tracing.tracer.actual_tracer
    tracing.tracer.actual_tracer = _StageTracer(previous)
    try:
        yield
    finally:
        tracing.tracer.actual_tracer = previous


@contextlib.contextmanager
def _torch_threads(jobs: int) -> Iterator[int]:
    """`cpus // jobs` torch threads per worker while the batch runs, so N workers do not oversubscribe the cores.

    Yields the threads each worker gets."""
    import torch

    previous = torch.get_num_threads()
    wanted = max(1, (os.cpu_count() or 1) // jobs)
    change = jobs > 1 and "OMP_NUM_THREADS" not in os.environ and wanted < previous
    if change:
        torch.set_num_threads(wanted)
    try:
        yield wanted if change else previous
    finally:
        if change:
            torch.set_num_threads(previous)


class _TimedFetcher(YouTubeFetcher):
    """A `YouTubeFetcher` whose fetch time (network or cache) counts as the `fetch` stage."""

    def fetch(self, video_id: str) -> FetchedYouTube:
        started = time.perf_counter()
        try:
            return super().fetch(video_id)
        finally:
            _add_time("fetch", time.perf_counter() - started)


# -- the run ------------------------------------------------------------------------------------------------------

OutcomeStatus = Literal["done", "failed", "pending", "skipped", "previously failed"]


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
class BatchReport:
    """The result of `run_batch`: one outcome per manifest row (in manifest order) and the malformed rows."""

    manifest: Path
    state_path: Path
    out_dir: Path
    outcomes: list[TalkOutcome] = field(default_factory=list)
    problems: list[ManifestProblem] = field(default_factory=list)
    stopped: str | None = None
    interrupted: bool = False
    resume: str | None = None
    seconds: float = 0.0
    torch_threads: int | None = None  # per worker, when any talk ran

    def with_status(self, status: OutcomeStatus) -> list[TalkOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @property
    def counts(self) -> dict[str, int]:
        statuses = ("done", "skipped", "failed", "previously failed", "pending")
        return {status: len(self.with_status(status)) for status in statuses}  # type: ignore[arg-type]

    @property
    def exit_code(self) -> int:
        """0 when every row is done; 130 after Ctrl-C; else 1 (failures, malformed rows, talks left pending)."""
        if self.interrupted:
            return 130
        unfinished = {"failed", "previously failed", "pending"}
        return 1 if self.problems or any(o.status in unfinished for o in self.outcomes) else 0


@dataclass
class _Job:
    row: ManifestRow
    recap_only: bool = False  # done and unchanged, but its recap files are missing


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


class _Run:
    """One batch run: the plan, the threads, and the bookkeeping of outcomes into the state file."""

    def __init__(self, workspace: Workspace, manifest: Manifest, options: dict[str, Any], console: Console) -> None:
        self.workspace = workspace
        self.manifest = manifest
        self.options = options
        self.console = console
        self.jobs: int = options["jobs"]
        self.state = StateFile(workspace, manifest.path)
        self.loaded: queue.Queue[tuple[_Job, Transcript | None, dict[str, float]] | None] = queue.Queue(self.jobs)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.stop = threading.Event()  # no new fetches
        self.abort = threading.Event()  # Ctrl-C: also drop what is fetched but not started
        self.stop_reason: str | None = None
        self.fetchers: dict[tuple[tuple[str, ...], str | None], YouTubeFetcher] = {}
        request = (options["languages"], options["translate"])
        self.hashes = {row.talk_id: row.fingerprint(*request) for row in manifest.rows}
        self.ok = self.bad = 0
        self.recorded: dict[str, TalkState] = {}

    # planning

    def plan(self, stored: BatchState) -> tuple[list[_Job], list[TalkOutcome]]:
        """The talks to process, and the outcomes of those skipped (done, or failed without --retry-failed)."""
        jobs: list[_Job] = []
        skipped: list[TalkOutcome] = []
        for row in self.manifest.rows:
            row_hash = self.hashes[row.talk_id]
            entry = stored.talks.get(row.talk_id)
            same = entry is not None and entry.row_hash == row_hash and not self.options["refresh"]
            if same and entry.status == "done" and self.workspace.has_talk(row.talk_id):
                if not self._outputs_exist(row.talk_id):
                    jobs.append(_Job(row, recap_only=True))
                else:
                    skipped.append(self._outcome(row, "skipped", reason="already done", chunks=entry.chunks))
            elif same and entry.status == "failed" and not self.options["retry_failed"]:
                skipped.append(self._outcome(row, "previously failed", reason=entry.reason, stage=entry.stage))
            else:
                jobs.append(_Job(row))
        return jobs, skipped

    def _outputs_exist(self, talk_id: str) -> bool:
        out: Path = self.options["out_dir"]
        return (out / f"{talk_id}.json").exists() and (out / f"{talk_id}.md").exists()

    @staticmethod
    def _outcome(row: ManifestRow, status: OutcomeStatus, **values: Any) -> TalkOutcome:
        return TalkOutcome(talk_id=row.talk_id, line=row.line, source=row.source, status=status, **values)

    def register(self, jobs: list[_Job], stored: BatchState) -> None:
        """Record new or changed talks as pending before any work starts."""
        fresh = {
            row.talk_id: TalkState(row_hash=self.hashes[row.talk_id], line=row.line, source=row.source)
            for row in (job.row for job in jobs)
            if (entry := stored.talks.get(row.talk_id)) is None or entry.row_hash != self.hashes[row.talk_id]
        }
        if fresh:
            stored.talks.update(self.state.update(fresh).talks)

    def make_fetchers(self, jobs: list[_Job]) -> None:
        """One fetcher per language request among the YouTube rows; a bad proxy fails here, before any work."""
        for job in jobs:
            key = self._fetcher_key(job.row)
            if job.row.video_id and not job.recap_only and key not in self.fetchers:
                try:
                    self.fetchers[key] = _TimedFetcher(
                        languages=list(key[0]),
                        translate_to=key[1],
                        proxy=self.options["proxy"],
                        http_client=self.options["http_client"],
                        cache_dir=self.workspace.cache_dir / "youtube",
                        refresh=self.options["refresh"],
                        **self.options["youtube_options"],
                    )
                except SourceError as error:
                    raise BatchError(str(error)) from None

    def _fetcher_key(self, row: ManifestRow) -> tuple[tuple[str, ...], str | None]:
        return tuple(row.languages or self.options["languages"]), row.translate or self.options["translate"]

    # the threads

    def load(self, job: _Job) -> None:
        """Fetch thread: a talk's transcript onto the queue, or its outcome straight to the main thread."""
        try:
            if self.stop.is_set():
                self.events.put(("end", self._outcome(job.row, "pending", reason=self.stop_reason)))
                return
            timings: dict[str, float] = {}
            transcript = None
            started = time.perf_counter()
            if not job.recap_only:
                fetcher = self.fetchers.get(self._fetcher_key(job.row))
                with _timing(timings):
                    transcript = self._load_source(job, fetcher, timings)
                if transcript is None:
                    return
                timings["parse"] = time.perf_counter() - started - timings.get("fetch", 0.0)
            timings["queued_at"] = time.perf_counter()
            timings["started_at"] = started
            self.loaded.put((job, transcript, timings))
        except BaseException as error:  # every job must end in exactly one outcome
            self.events.put(("end", self._outcome(job.row, "failed", reason=_first_line(error), stage="load")))

    def _load_source(self, job: _Job, fetcher: YouTubeFetcher | None, timings: dict[str, float]) -> Transcript | None:
        from pipeline.sources import load_source

        try:
            return load_source(job.row.location, job.row.metadata, fetcher)
        except SourceError as error:
            if error.retryable:
                self.stop_reason = self.stop_reason or str(error)
                self.stop.set()
                status: OutcomeStatus = "pending"
            else:
                status = "failed"
            reason = error.problem
        except Exception as error:
            status, reason = "failed", f"unexpected error: {_first_line(error)}"
        timings["total"] = sum(timings.values())
        outcome = self._outcome(
            job.row, status, reason=reason, stage="load", timings=timings, attempted=True, retryable=status == "pending"
        )
        self.events.put(("end", outcome))
        return None

    def work(self, ingestor: Ingestor, recapper: Recapper) -> None:
        """Worker thread: ingest (and recap) what the fetch threads load, until the end-of-queue marker."""
        while (item := self.loaded.get()) is not None:
            job, transcript, timings = item
            if self.abort.is_set():
                self.events.put(("end", self._outcome(job.row, "pending", reason="interrupted before processing")))
                continue
            self.events.put(("start", job.row.talk_id))
            self.events.put(("end", self._process(job, transcript, timings, ingestor, recapper)))

    def _process(
        self,
        job: _Job,
        transcript: Transcript | None,
        timings: dict[str, float],
        ingestor: Ingestor,
        recapper: Recapper,
    ) -> TalkOutcome:
        started_at, queued_at = timings.pop("started_at"), timings.pop("queued_at")
        timings["queue"] = time.perf_counter() - queued_at
        stage, chunks = "ingest", None
        try:
            with _timing(timings):
                if transcript is not None:
                    chunks = ingestor.ingest(transcript).chunks
                stage = "recap"
                self._write_recap(job.row.talk_id, recapper, timings)
        except Exception as error:
            timings["total"] = time.perf_counter() - started_at
            reason = _first_line(error)
            return self._outcome(job.row, "failed", reason=reason, stage=stage, timings=timings, attempted=True)
        timings["total"] = time.perf_counter() - started_at
        return self._outcome(job.row, "done", chunks=chunks, timings=timings, attempted=True)

    def _write_recap(self, talk_id: str, recapper: Recapper, timings: dict[str, float]) -> None:
        out: Path = self.options["out_dir"]
        with _timing(timings, "recap"):
            recap = recapper.recap(talk_id)
        with _timing(timings, "render"):
            markdown = render_recap(recap)
            atomic_write(out / f"{talk_id}.json", recap.model_dump_json(indent=2).encode())
            atomic_write(out / f"{talk_id}.md", markdown.encode())

    # the main thread

    def execute(self, jobs: list[_Job], stored: BatchState, progress: Progress) -> list[TalkOutcome]:
        """Start the threads, then record outcomes as they come, until every job has one."""
        task = progress.add_task("loading model", total=len(jobs), ok=0, bad=0)
        try:
            workers = self._warm_up(min(self.jobs, len(jobs)))
        except KeyboardInterrupt:  # nothing started yet
            self.interrupt(progress)
            return [self._outcome(job.row, "pending", reason="interrupted") for job in jobs]
        progress.update(task, description="starting")
        fetch_pool = ThreadPoolExecutor(min(self.jobs, MAX_FETCH_THREADS), thread_name_prefix="batch-fetch")
        for job in jobs:
            fetch_pool.submit(self.load, job)
        threads = [
            threading.Thread(target=self.work, args=pair, name=f"batch-worker-{n}") for n, pair in enumerate(workers)
        ]
        closer = threading.Thread(target=self._close, args=(fetch_pool, len(threads)), name="batch-closer")
        for thread in [*threads, closer]:
            thread.start()
        outcomes = self._collect(len(jobs), stored, progress, task)
        for thread in [closer, *threads]:
            while thread.is_alive():
                try:
                    thread.join()
                except KeyboardInterrupt:
                    self.interrupt(progress)
        return outcomes

    def _warm_up(self, count: int) -> list[tuple[Any, Any]]:
        """One Ingestor (and Recapper) per worker, warmed up one by one: they share the loaded model."""

        workers = []
        for _ in range(max(1, count)):
            ingestor = Ingestor(self.workspace)
            ingestor.warm_up()
            recapper = Recapper(self.workspace)
            recapper.warm_up()
            workers.append((ingestor, recapper))
        return workers

    def _close(self, fetch_pool: ThreadPoolExecutor, workers: int) -> None:
        fetch_pool.shutdown(wait=True)
        for _ in range(workers):
            self.loaded.put(None)

    def _collect(self, total: int, stored: BatchState, progress: Progress, task: Any) -> list[TalkOutcome]:
        outcomes: list[TalkOutcome] = []
        active: list[str] = []
        while len(outcomes) < total:
            try:
                kind, value = self.events.get(timeout=0.5)
                if kind == "start":
                    active.append(value)
                else:
                    outcomes.append(value)
                    active = [talk for talk in active if talk != value.talk_id]
                    self._record(value, stored)
                    self._show(value, progress, task)
                progress.update(task, description=self._describe(active))
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                self.interrupt(progress)
        self.flush(outcomes, stored)
        return outcomes

    def interrupt(self, progress: Progress) -> None:
        if not self.abort.is_set():
            progress.console.print("[yellow]interrupted: finishing the talks in progress…[/yellow]")
        self.stop_reason = self.stop_reason or "interrupted"
        self.stop.set()
        self.abort.set()

    def _describe(self, active: list[str]) -> str:
        if self.stop.is_set() and not active:
            return "stopping"
        if not active:
            return "fetching"
        shown = ", ".join(active[:3]) + (f" +{len(active) - 3}" if len(active) > 3 else "")
        return f"{'stopping · ' if self.stop.is_set() else ''}{shown}"

    def _record(self, outcome: TalkOutcome, stored: BatchState) -> None:
        """Store an attempted talk's outcome; one not attempted keeps its entry (pending, done or failed)."""
        if outcome.attempted:
            entry = self.recorded[outcome.talk_id] = self._entry(outcome, stored)
            self.state.update({outcome.talk_id: entry})

    def _entry(self, outcome: TalkOutcome, stored: BatchState) -> TalkState:
        row_hash = self.hashes[outcome.talk_id]
        previous = stored.talks.get(outcome.talk_id)
        base = previous if previous is not None and previous.row_hash == row_hash else None
        return TalkState(
            status=outcome.status,  # type: ignore[arg-type]
            row_hash=row_hash,
            line=outcome.line,
            source=outcome.source,
            attempts=(base.attempts if base else 0) + 1,
            reason=outcome.reason,
            stage=outcome.stage,
            retryable=outcome.retryable,
            chunks=outcome.chunks if outcome.chunks is not None else (base.chunks if base else None),
            timings=outcome.timings,
            updated=datetime.now(UTC),
        )

    def flush(self, outcomes: list[TalkOutcome], stored: BatchState) -> None:
        """Write every attempted outcome of this run once more: a write that Ctrl-C cut short is redone."""
        for outcome in outcomes:
            if outcome.attempted and outcome.talk_id not in self.recorded:
                self.recorded[outcome.talk_id] = self._entry(outcome, stored)
        if self.recorded:
            self.state.update(self.recorded)

    def _show(self, outcome: TalkOutcome, progress: Progress, task: Any) -> None:
        name = escape(outcome.talk_id)
        if outcome.status == "done":
            detail = f"{outcome.chunks} chunks" if outcome.chunks is not None else "recap written"
            message = f"[green]✓[/green] [bold]{name}[/bold]: {detail} ({outcome.seconds:.1f}s)"
            self.ok += 1
        elif outcome.status == "failed":
            message = f"[red]✗[/red] [bold]{name}[/bold]: {escape(outcome.reason or '')}"
            self.bad += 1
        elif outcome.attempted:
            message = f"[yellow]‖[/yellow] [bold]{name}[/bold]: left pending: {escape(outcome.reason or '')}"
        else:
            message = None
        if message:
            progress.console.print(message, highlight=False)
        progress.update(task, advance=1, ok=self.ok, bad=self.bad)


def run_batch(
    manifest: Path,
    workspace: Workspace,
    *,
    jobs: int = 1,
    retry_failed: bool = False,
    out_dir: Path | None = None,
    languages: str | Sequence[str] | None = None,
    translate: str | None = None,
    proxy: str | None = None,
    refresh: bool = False,
    http_client: Any = None,
    youtube_options: Mapping[str, Any] | None = None,
    console: Console | None = None,
) -> BatchReport:
    """Process every talk of `manifest` into `workspace`; progress goes to `console` (default: stderr).

    `out_dir` (default `<workspace>/recaps`) receives `<id>.json` and `<id>.md` per done talk once `pipeline.recap`
    exists. `languages` ("de,en" or a list) and `translate` are the caption request for YouTube rows without their
    own `language`/`translate`. `refresh` processes every talk again and refetches YouTube captions. `http_client`
    (a `requests.Session`) and `youtube_options` (more `YouTubeFetcher` arguments) are for tests. Raises
    `BatchError` when the batch cannot start; talk failures are in the report.
    """
    if not 1 <= jobs <= MAX_JOBS:
        raise BatchError(f"--jobs must be between 1 and {MAX_JOBS}")
    started = time.perf_counter()
    space = workspace.create()
    parsed = read_manifest(manifest)
    codes = languages.split(",") if isinstance(languages, str) else list(languages or ["en"])
    options = {
        "jobs": jobs,
        "retry_failed": retry_failed,
        "out_dir": out_dir or space.root / "recaps",
        "languages": [code.strip() for code in codes if code.strip()] or ["en"],
        "translate": translate,
        "proxy": proxy,
        "refresh": refresh,
        "http_client": http_client,
        "youtube_options": dict(youtube_options or {}),
    }
    run = _Run(space, parsed, options, console or Console(stderr=True))
    report = BatchReport(manifest, run.state.path, options["out_dir"], problems=parsed.problems)
    stored = run.state.load()
    jobs_to_run, skipped = run.plan(stored)
    outcomes = list(skipped)
    if jobs_to_run:
        run.make_fetchers(jobs_to_run)
        run.register(jobs_to_run, stored)
        with _torch_threads(jobs) as report.torch_threads, _component_timings(), _progress(run.console) as progress:
            outcomes += run.execute(jobs_to_run, stored, progress)
    report.outcomes = sorted(outcomes, key=lambda outcome: outcome.line)
    report.stopped = run.stop_reason if run.stop.is_set() and not run.abort.is_set() else None
    report.interrupted = run.abort.is_set()
    report.resume = _resume_advice(report, options, space)
    report.seconds = time.perf_counter() - started
    return report


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[green]✓ {task.fields[ok]}[/green] [red]✗ {task.fields[bad]}[/red]"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _resume_advice(report: BatchReport, options: dict[str, Any], workspace: Workspace) -> str | None:
    """The command that picks up where this run left off, or None when nothing is left to resume."""
    pending = report.with_status("pending")
    failed = report.with_status("failed") + report.with_status("previously failed")
    if not pending and not failed:
        return None
    command = ["talks", "batch", _quote(str(report.manifest))]
    if workspace.root != resolve_workspace(None):
        command += ["--workspace", _quote(str(workspace.root))]
    if options["jobs"] != 1:
        command += ["--jobs", str(options["jobs"])]
    if report.out_dir != workspace.root / "recaps":
        command += ["--out", _quote(str(report.out_dir))]
    if options["languages"] != ["en"]:
        command += ["--language", ",".join(options["languages"])]
    if options["translate"]:
        command += ["--translate", options["translate"]]
    if options["proxy"]:
        command += ["--proxy", "URL"]
    lines = []
    if pending:
        lines.append(f"{len(pending)} talk(s) left pending; resume with: {' '.join(command)}")
        if report.stopped and "YouTube" in report.stopped and not options["proxy"]:
            lines.append("  (add --proxy URL if YouTube keeps blocking this IP)")
    if failed:
        lines.append(f"retry the {len(failed)} failed talk(s) with: {' '.join([*command, '--retry-failed'])}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w@%+=:,./~-]+", text) else "'" + text.replace("'", "'\\''") + "'"


def print_report(report: BatchReport, console: Console) -> None:
    """The summary: counts, a table of every talk (and malformed row) with its status, and how to resume."""
    counts = report.counts
    parts = [f"{counts['done']} done", f"{counts['skipped']} skipped (already done)", f"{counts['failed']} failed"]
    if counts["previously failed"]:
        parts.append(f"{counts['previously failed']} previously failed")
    if counts["pending"]:
        parts.append(f"{counts['pending']} pending")
    if report.problems:
        parts.append(f"{len(report.problems)} malformed row(s)")
    table = Table(title=f"Batch {escape(str(report.manifest))}", title_justify="left")
    for column in ("Line", "Talk", "Status", "Detail"):
        table.add_column(column, overflow="fold")
    styles = {"done": "green", "skipped": "dim", "failed": "red", "previously failed": "red", "pending": "yellow"}
    rows = [(o.line, escape(o.talk_id), o.status, escape(_detail(o))) for o in report.outcomes]
    rows += [(p.line, "", "malformed", escape(p.message)) for p in report.problems]
    for line, talk, status, detail in sorted(rows, key=lambda row: row[0]):
        style = styles.get(status, "red")
        table.add_row(str(line), talk, f"[{style}]{status}[/{style}]", detail)
    console.print(table)
    console.print(" · ".join(parts) + f" · {report.seconds:.1f}s", highlight=False)
    console.print(f"recaps: {escape(str(report.out_dir))}", highlight=False)
    if report.stopped:
        console.print(f"[yellow]stopped early:[/yellow] {escape(report.stopped)}", highlight=False)
    if report.interrupted:
        console.print("[yellow]interrupted:[/yellow] the talks in progress were finished and recorded")
    if report.resume:
        console.print(escape(report.resume), highlight=False, soft_wrap=True)


def _detail(outcome: TalkOutcome) -> str:
    if outcome.status == "done":
        chunks = f"{outcome.chunks} chunks, " if outcome.chunks is not None else "recap only, "
        return f"{chunks}{outcome.seconds:.1f}s"
    if outcome.status in ("failed", "previously failed") and outcome.stage:
        return f"{outcome.stage}: {outcome.reason}"
    return outcome.reason or ""


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pipeline.batch MANIFEST [options]`: the batch without the `talks` CLI."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.batch", description=main.__doc__)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--workspace", "-w", type=Path)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--retry-failed", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--language", default="en")
    parser.add_argument("--translate")
    parser.add_argument("--proxy", default=os.environ.get("TALKS_PROXY"))
    parser.add_argument("--refresh", action="store_true")
    args = parser.parse_args(argv)
    workspace = Workspace(resolve_workspace(args.workspace))
    try:
        report = run_batch(
            args.manifest,
            workspace,
            jobs=args.jobs,
            retry_failed=args.retry_failed,
            out_dir=args.out,
            languages=args.language,
            translate=args.translate,
            proxy=args.proxy,
            refresh=args.refresh,
        )
    except BatchError as error:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        return 1
    print_report(report, Console())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
