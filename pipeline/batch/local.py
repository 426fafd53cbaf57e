"""The local engine (`--engine local`, the default): threads in this process.

    plan ─► N fetch threads: YouTube fetch / file read + parse → Transcript      (I/O, GIL released)
         ─► bounded queue (N deep: fetches run at most ~2N talks ahead)
         ─► N workers, each with its own Ingestor (clean, chunk, embed, write) and Recapper
         ─► main thread: progress bar and state file, one atomic update per talk

Fetching and computing run in separate threads, so a slow YouTube reply never idles a worker and a long embedding
never stalls the fetches; the queue bounds memory. Haystack components may not be thread-safe, so each worker owns
its pipelines; the embedding model is loaded once and shared in-process. Models are warmed up one by one in the main
thread (the backend cache is not thread-safe). With N > 1 workers torch gets `cpus // N` threads each, so N
workers do not oversubscribe the cores (unless `OMP_NUM_THREADS` is set).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rich.progress import Progress

from pipeline.batch.manifest import BatchError
from pipeline.batch.run import BatchRun
from pipeline.batch.state import BatchState
from pipeline.batch.work import (
    Job,
    StageError,
    TalkOutcome,
    first_line,
    ingest_and_recap,
    load_transcript,
    torch_threads,
    write_recap_files,
)
from pipeline.ingest import Ingestor
from pipeline.models import Transcript
from pipeline.pipelines import IndexSettings
from pipeline.recap import Recapper
from pipeline.stores import StoreError

MAX_FETCH_THREADS = 4  # YouTube punishes bursts; local files need no more


class LocalEngine:
    """Fetch threads feeding N ingest+recap worker threads; outcomes are recorded by the main thread."""

    def __init__(self, run: BatchRun) -> None:
        self.run = run
        self.jobs = run.jobs
        self.loaded: queue.Queue[tuple[Job, Transcript | None, dict[str, float]] | None] = queue.Queue(self.jobs)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.torch_threads: int | None = None
        self.workers: list[dict[str, Any]] = []
        self.startup = 0.0

    # the threads

    def load(self, job: Job) -> None:
        """Fetch thread: a talk's transcript onto the queue, or its outcome straight to the main thread."""
        run = self.run
        try:
            if run.stop.is_set():
                self.events.put(("end", run.outcome(job.row, "pending", reason=run.stop_reason)))
                return
            timings: dict[str, float] = {}
            transcript = None
            started = time.perf_counter()
            if not job.recap_only:
                loaded = load_transcript(job, run.fetchers.get(run.fetcher_key(job.row)), timings)
                if isinstance(loaded, TalkOutcome):
                    if loaded.retryable:
                        run.request_stop(loaded.reason)
                    self.events.put(("end", loaded))
                    return
                transcript = loaded
            timings["queued_at"] = time.perf_counter()
            timings["started_at"] = started
            self.loaded.put((job, transcript, timings))
        except BaseException as error:  # every job must end in exactly one outcome
            self.events.put(("end", run.outcome(job.row, "failed", reason=first_line(error), stage="load")))

    def work(self, ingestor: Ingestor, recapper: Recapper) -> None:
        """Worker thread: ingest (and recap) what the fetch threads load, until the end-of-queue marker."""
        while (item := self.loaded.get()) is not None:
            job, transcript, timings = item
            if self.run.abort.is_set():
                self.events.put(("end", self.run.outcome(job.row, "pending", reason="interrupted before processing")))
                continue
            self.events.put(("start", job.row.talk_id))
            self.events.put(("end", self._process(job, transcript, timings, ingestor, recapper)))

    def _process(
        self,
        job: Job,
        transcript: Transcript | None,
        timings: dict[str, float],
        ingestor: Ingestor,
        recapper: Recapper,
    ) -> TalkOutcome:
        started_at, queued_at = timings.pop("started_at"), timings.pop("queued_at")
        timings["queue"] = time.perf_counter() - queued_at
        try:
            chunks, recap = ingest_and_recap(job.row.talk_id, transcript, ingestor, recapper, timings)
            write_recap_files(self.run.out_dir, recap, timings)
        except Exception as error:
            timings["total"] = time.perf_counter() - started_at
            stage, reason = ("recap", first_line(error))
            if isinstance(error, StageError):
                stage, reason = error.stage, error.reason
            return self.run.outcome(job.row, "failed", reason=reason, stage=stage, timings=timings, attempted=True)
        timings["total"] = time.perf_counter() - started_at
        return self.run.outcome(job.row, "done", chunks=chunks, timings=timings, attempted=True)

    # the main thread

    def execute(self, jobs: list[Job], stored: BatchState, progress: Progress) -> list[TalkOutcome]:
        """Start the threads, then record outcomes as they come, until every job has one."""
        with torch_threads(self.jobs) as self.torch_threads:
            return self._execute(jobs, stored, progress)

    def _execute(self, jobs: list[Job], stored: BatchState, progress: Progress) -> list[TalkOutcome]:
        run = self.run
        started = time.perf_counter()
        task = progress.add_task("loading model", total=len(jobs), ok=0, bad=0)
        try:
            workers = self._warm_up(min(self.jobs, len(jobs)))
        except KeyboardInterrupt:  # nothing started yet
            run.interrupt(progress)
            return [run.outcome(job.row, "pending", reason="interrupted") for job in jobs]
        self.startup = time.perf_counter() - started
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
                    run.interrupt(progress)
        return outcomes

    def _warm_up(self, count: int) -> list[tuple[Ingestor, Recapper]]:
        """One Ingestor (and Recapper) per worker, warmed up one by one: they share the loaded model."""
        workers = []
        for _ in range(max(1, count)):
            settings = IndexSettings(restore_punctuation=self.run.options.restore_punctuation)
            ingestor = Ingestor(self.run.workspace, settings, store=self.run.options.store)
            try:
                ingestor.warm_up()
            except StoreError as error:
                raise BatchError(str(error)) from None
            recapper = Recapper(self.run.workspace)
            recapper.warm_up()
            workers.append((ingestor, recapper))
        return workers

    def _close(self, fetch_pool: ThreadPoolExecutor, workers: int) -> None:
        fetch_pool.shutdown(wait=True)
        for _ in range(workers):
            self.loaded.put(None)

    def _collect(self, total: int, stored: BatchState, progress: Progress, task: Any) -> list[TalkOutcome]:
        run = self.run
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
                    run.record(value, stored)
                    run.show(value, progress, task)
                progress.update(task, description=run.describe(active))
            except queue.Empty:
                continue
            except KeyboardInterrupt:
                run.interrupt(progress)
        run.flush(outcomes, stored)
        return outcomes
