"""`BatchRun`: one batch run as the driver sees it, whatever the engine (the plan, the state file, progress and
outcomes), and the `Engine` protocol the local and Ray engines implement. `runner.run_batch` drives it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from pipeline.batch.manifest import BatchError, Manifest, ManifestRow
from pipeline.batch.options import BatchOptions
from pipeline.batch.state import BatchState, StateFile, TalkState
from pipeline.batch.work import (
    FetcherKey,
    Job,
    OutcomeStatus,
    TalkOutcome,
    fetcher_key,
    make_fetcher,
    make_outcome,
    youtube_session,
)
from pipeline.sources.youtube import YouTubeFetcher
from pipeline.stores import ChunkStore, StoreError
from pipeline.workspace import Workspace


class BatchRun:
    """One batch run as the driver sees it, whatever the engine: the plan, the state file (one atomic update per
    talk, from this thread only), the progress bar and the outcomes."""

    def __init__(self, workspace: Workspace, manifest: Manifest, options: BatchOptions, console: Console) -> None:
        self.workspace = workspace
        self.manifest = manifest
        self.options = options
        self.out_dir: Path = options.out_dir or workspace.root / "recaps"
        self.console = console
        self.jobs: int = options.jobs
        self.state = StateFile(workspace, manifest.path)
        self.stop = threading.Event()  # no new fetches
        self.abort = threading.Event()  # Ctrl-C: also drop what is fetched but not started
        self.stop_reason: str | None = None
        self.fetchers: dict[FetcherKey, YouTubeFetcher] = {}
        request = (options.languages, options.translate)
        self.hashes = {row.talk_id: row.fingerprint(*request) for row in manifest.rows}
        self.ok = self.bad = 0
        self.recorded: dict[str, TalkState] = {}

    # planning

    def plan(self, stored: BatchState, store: ChunkStore) -> tuple[list[Job], list[TalkOutcome]]:
        """The talks to process, and the outcomes of those skipped: done (transcript in the workspace, chunks in the
        store), or failed without --retry-failed."""
        jobs: list[Job] = []
        skipped: list[TalkOutcome] = []
        for row in self.manifest.rows:
            row_hash = self.hashes[row.talk_id]
            entry = stored.talks.get(row.talk_id)
            same = entry is not None and entry.row_hash == row_hash and not self.options.refresh
            if same and entry.status == "done" and self._stored(row.talk_id, store):
                if not self._outputs_exist(row.talk_id):
                    jobs.append(Job(row, recap_only=True))
                else:
                    skipped.append(make_outcome(row, "skipped", reason="already done", chunks=entry.chunks))
            elif same and entry.status == "failed" and not self.options.retry_failed:
                skipped.append(make_outcome(row, "previously failed", reason=entry.reason, stage=entry.stage))
            else:
                jobs.append(Job(row))
        return jobs, skipped

    def _stored(self, talk_id: str, store: ChunkStore) -> bool:
        """The talk's transcript is in the workspace and its chunks are in the chosen store (a run with another
        store processes it again)."""
        if not self.workspace.has_talk(talk_id):
            return False
        try:
            return store.header(talk_id) is not None
        except StoreError as error:
            raise BatchError(str(error)) from None

    def _outputs_exist(self, talk_id: str) -> bool:
        out = self.out_dir
        return (out / f"{talk_id}.json").exists() and (out / f"{talk_id}.md").exists()

    def register(self, jobs: list[Job], stored: BatchState) -> None:
        """Record new or changed talks as pending before any work starts."""
        fresh = {
            row.talk_id: TalkState(row_hash=self.hashes[row.talk_id], line=row.line, source=row.source)
            for row in (job.row for job in jobs)
            if (entry := stored.talks.get(row.talk_id)) is None or entry.row_hash != self.hashes[row.talk_id]
        }
        if fresh:
            stored.talks.update(self.state.update(fresh).talks)

    def make_fetchers(self, jobs: list[Job]) -> None:
        """One fetcher per language request among the YouTube rows; a bad proxy fails here, before any work."""
        client = None
        for job in jobs:
            key = self.fetcher_key(job.row)
            if job.row.video_id and not job.recap_only and key not in self.fetchers:
                if client is None:
                    client = youtube_session(self.options)
                self.fetchers[key] = make_fetcher(key, self.options, self.workspace.cache_dir / "youtube", client)

    def fetcher_key(self, row: ManifestRow) -> FetcherKey:
        return fetcher_key(row, self.options)

    # stopping

    def request_stop(self, reason: str | None) -> None:
        """No new talks start (a YouTube block, no network, no workers left); what is in flight finishes."""
        self.stop_reason = self.stop_reason or reason
        self.stop.set()

    def interrupt(self, progress: Progress) -> None:
        if not self.abort.is_set():
            progress.console.print("[yellow]interrupted: finishing the talks in progress…[/yellow]")
        self.stop_reason = self.stop_reason or "interrupted"
        self.stop.set()
        self.abort.set()

    # recording

    def describe(self, active: list[str]) -> str:
        if self.stop.is_set() and not active:
            return "stopping"
        if not active:
            return "fetching"
        shown = ", ".join(active[:3]) + (f" +{len(active) - 3}" if len(active) > 3 else "")
        return f"{'stopping · ' if self.stop.is_set() else ''}{shown}"

    def record(self, outcome: TalkOutcome, stored: BatchState) -> None:
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

    def show(self, outcome: TalkOutcome, progress: Progress, task: Any) -> None:
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

    @staticmethod
    def outcome(row: ManifestRow, status: OutcomeStatus, **values: Any) -> TalkOutcome:
        return make_outcome(row, status, **values)


class Engine(Protocol):
    """Runs the planned jobs: every job ends in exactly one outcome, recorded by `run` as it comes."""

    torch_threads: int | None
    workers: list[dict[str, Any]]
    startup: float

    def execute(self, jobs: list[Job], stored: BatchState, progress: Progress) -> list[TalkOutcome]: ...
