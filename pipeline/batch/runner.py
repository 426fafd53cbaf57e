"""`run_batch`: the plan, the state file and the bookkeeping every engine shares, and `python -m pipeline.batch`."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

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

from pipeline.batch.manifest import BatchError, Manifest, ManifestRow, read_manifest
from pipeline.batch.report import BatchReport, print_report, resume_advice
from pipeline.batch.state import BatchState, StateFile, TalkState
from pipeline.batch.work import (
    FetcherKey,
    Job,
    OutcomeStatus,
    TalkOutcome,
    component_timings,
    fetcher_key,
    make_fetcher,
    make_outcome,
    youtube_session,
)
from pipeline.sources.youtube import YouTubeFetcher
from pipeline.stores import ChunkStore, StoreConfig, StoreError, open_store
from pipeline.workspace import Workspace, WorkspaceError, resolve_workspace

MAX_JOBS = 32
ENGINES = ("local", "ray")


class BatchRun:
    """One batch run as the driver sees it, whatever the engine: the plan, the state file (one atomic update per
    talk, from this thread only), the progress bar and the outcomes."""

    def __init__(self, workspace: Workspace, manifest: Manifest, options: dict[str, Any], console: Console) -> None:
        self.workspace = workspace
        self.manifest = manifest
        self.options = options
        self.console = console
        self.jobs: int = options["jobs"]
        self.state = StateFile(workspace, manifest.path)
        self.stop = threading.Event()  # no new fetches
        self.abort = threading.Event()  # Ctrl-C: also drop what is fetched but not started
        self.stop_reason: str | None = None
        self.fetchers: dict[FetcherKey, YouTubeFetcher] = {}
        request = (options["languages"], options["translate"])
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
            same = entry is not None and entry.row_hash == row_hash and not self.options["refresh"]
            if same and entry.status == "done" and self._stored(row.talk_id, store):
                if not self._outputs_exist(row.talk_id):
                    jobs.append(Job(row, recap_only=True))
                else:
                    skipped.append(make_outcome(row, "skipped", reason="already done", chunks=entry.chunks))
            elif same and entry.status == "failed" and not self.options["retry_failed"]:
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
        out: Path = self.options["out_dir"]
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
    store: StoreConfig | None = None,
    engine: str = "local",
    address: str | None = None,
    http_client: Any = None,
    youtube_options: Mapping[str, Any] | None = None,
    ray_options: Mapping[str, Any] | None = None,
    console: Console | None = None,
    restore_punctuation: str = "auto",
) -> BatchReport:
    """Process every talk of `manifest` into `workspace` and the chunk `store`; progress goes to `console`
    (default: stderr).

    `out_dir` (default `<workspace>/recaps`) receives `<id>.json` and `<id>.md` per done talk. `languages` ("de,en"
    or a list) and `translate` are the caption request for YouTube rows without their own `language`/`translate`.
    `refresh` processes every talk again and refetches YouTube captions. `engine`: "local" (threads in this process)
    or "ray" (Ray actors; `address` connects to a running cluster, else a local Ray starts: see
    `pipeline.batch.ray_engine`). `restore_punctuation`: auto, on or off (see `PunctuationRestorer`).
    `http_client` (a `requests.Session`, or a function making one), `youtube_options`
    (more `YouTubeFetcher` arguments) and `ray_options` are for tests. Raises `BatchError` when the batch cannot
    start; talk failures are in the report.
    """
    if not 1 <= jobs <= MAX_JOBS:
        raise BatchError(f"--jobs must be between 1 and {MAX_JOBS}")
    if engine not in ENGINES:
        raise BatchError(f"unknown engine '{engine}' (choose one of: {', '.join(ENGINES)})")
    if address and engine != "ray":
        raise BatchError("--address needs --engine ray")
    store = store or StoreConfig()
    if engine == "ray":
        from pipeline.batch.ray_engine import check_store

        check_store(store)
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
        "store": store,
        "engine": engine,
        "address": address,
        "http_client": http_client,
        "youtube_options": dict(youtube_options or {}),
        "ray_options": dict(ray_options or {}),
        "restore_punctuation": restore_punctuation,
    }
    if any(row.playlist_id for row in parsed.rows):  # one row per video, before anything is planned
        from pipeline.batch.playlists import expand_playlists

        key = (tuple(options["languages"]), options["translate"])
        client = youtube_session(options)
        parsed = expand_playlists(parsed, make_fetcher(key, options, space.cache_dir / "youtube", client))
    run = BatchRun(space, parsed, options, console or Console(stderr=True))
    report = BatchReport(
        manifest=manifest,
        state_path=run.state.path,
        out_dir=options["out_dir"],
        problems=parsed.problems,
        engine=engine,
    )
    stored = run.state.load()
    try:
        with open_store(store, space.root) as chunk_store:
            jobs_to_run, skipped = run.plan(stored, chunk_store)
    except StoreError as error:
        raise BatchError(str(error)) from None
    outcomes = list(skipped)
    if jobs_to_run:
        run.make_fetchers(jobs_to_run)
        run.register(jobs_to_run, stored)
        runner: Engine
        if engine == "ray":
            from pipeline.batch.ray_engine import RayEngine

            runner = RayEngine(run)
        else:
            from pipeline.batch.local import LocalEngine

            runner = LocalEngine(run)
        with component_timings(), _progress(run.console) as progress:
            outcomes += runner.execute(jobs_to_run, stored, progress)
        report.torch_threads, report.workers, report.startup = runner.torch_threads, runner.workers, runner.startup
    report.outcomes = sorted(outcomes, key=lambda outcome: outcome.line)
    report.stopped = run.stop_reason if run.stop.is_set() and not run.abort.is_set() else None
    report.interrupted = run.abort.is_set()
    report.resume = resume_advice(report, options, space)
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
    parser.add_argument("--engine", choices=ENGINES, default="local")
    parser.add_argument("--address")
    parser.add_argument("--store")
    parser.add_argument("--store-url")
    args = parser.parse_args(argv)
    workspace = Workspace(resolve_workspace(args.workspace))
    errors = Console(stderr=True)
    try:
        store = StoreConfig.resolve(kind=args.store, url=args.store_url, workspace=workspace.root)
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
            store=store,
            engine=args.engine,
            address=args.address,
        )
    except (BatchError, StoreError, WorkspaceError) as error:
        errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
        return 1
    print_report(report, Console())
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
