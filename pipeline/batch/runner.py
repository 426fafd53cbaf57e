"""`run_batch`: plan the talks of a manifest, run them on an engine (local threads or Ray), keep the books."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pipeline.batch.manifest import BatchError, read_manifest
from pipeline.batch.options import ENGINES, MAX_JOBS, BatchOptions
from pipeline.batch.report import BatchReport, resume_advice
from pipeline.batch.run import BatchRun, Engine
from pipeline.batch.work import component_timings, make_fetcher, youtube_session
from pipeline.config import validation_problems
from pipeline.stores import StoreError, open_store
from pipeline.workspace import Workspace

__all__ = ["ENGINES", "MAX_JOBS", "run_batch"]


def run_batch(
    manifest: Path,
    workspace: Workspace,
    options: BatchOptions | None = None,
    *,
    console: Console | None = None,
    **settings: Any,
) -> BatchReport:
    """Process every talk of `manifest` into `workspace` and the chunk store `options.store`; progress goes to
    `console` (default: stderr). `options` (or the same settings as keywords: jobs, retry_failed, out_dir,
    languages, translate, proxy, refresh, store, engine, address, restore_punctuation, and for tests http_client,
    youtube_options, ray_options) is a `BatchOptions`. Raises `BatchError` when the batch cannot start; talk
    failures are in the report."""
    try:
        options = options or BatchOptions(**settings)
    except ValidationError as error:
        raise BatchError(validation_problems(error)) from None
    if options.engine == "ray":
        from pipeline.batch.ray_engine import check_store

        check_store(options.store)
    started = time.perf_counter()
    space = workspace.create()
    parsed = read_manifest(manifest)
    if any(row.playlist_id for row in parsed.rows):  # one row per video, before anything is planned
        from pipeline.batch.playlists import expand_playlists

        key = (tuple(options.languages), options.translate)
        client = youtube_session(options)
        parsed = expand_playlists(parsed, make_fetcher(key, options, space.cache_dir / "youtube", client))
    run = BatchRun(space, parsed, options, console or Console(stderr=True))
    report = BatchReport(
        manifest=manifest,
        state_path=run.state.path,
        out_dir=run.out_dir,
        problems=parsed.problems,
        engine=options.engine,
    )
    stored = run.state.load()
    try:
        with open_store(options.store, space.root) as chunk_store:
            jobs_to_run, skipped = run.plan(stored, chunk_store)
    except StoreError as error:
        raise BatchError(str(error)) from None
    outcomes = list(skipped)
    if jobs_to_run:
        run.make_fetchers(jobs_to_run)
        run.register(jobs_to_run, stored)
        runner: Engine
        if options.engine == "ray":
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
