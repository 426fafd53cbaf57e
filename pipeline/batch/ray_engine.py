"""The Ray engine (`--engine ray`): each talk's work runs in Ray actors; this process (the driver) keeps the books.

    plan ─► driver: N Ray actors (`--jobs N`), each warming up one Ingestor and one Recapper (the embedding model
            loads once per actor, not per talk); each actor is handed at most 2 talks at a time
         ─► actor: load (YouTube fetch or file read, parse) → ingest (clean, chunk, embed; the transcript to the
            workspace, the chunks to the store) → recap (the `TalkRecap`). Two threads per actor: the next talk
            loads while the current one computes; the computing is one talk at a time.
         ─► driver: renders and writes each recap (`--out`), shows progress, updates the state file, prints the
            report: the same state, resume and report as the local engine.

The recap is computed in the actor, not the driver: it is the larger half of a talk's time and must scale with the
workers. Only rendering it to Markdown and writing the two files happen in the driver, so `--out` is a folder of the
machine you run `talks batch` on.

Cluster. Without `--address` (or `RAY_ADDRESS`) a local Ray starts for the run (`num_cpus = --jobs`, no dashboard,
no worker logs in the terminal) and stops after it. `--address HOST:PORT` (or `ray://HOST:PORT`, or `auto`)
connects to a running cluster. An address where nothing listens fails at once, in one line (Ray itself would retry
for minutes); one where something else answers fails in one line after Ray's ~20 s of retries, its C++ log lines
kept out of the terminal. Every node needs this package and its dependencies installed.

Stores. The workers write chunks straight to the store, so it must be one they can all reach:

- pgvector, or a Qdrant server (`--store qdrant --store-url http://HOST:6333`): any cluster;
- the stores in the workspace (SQLite, the default, and memory): only when every worker sees the workspace folder
  (a local Ray, or a cluster sharing it over a network filesystem). Checked when the workers start, with a token
  file the driver writes into the workspace; a worker that cannot see it stops the batch with one line before any
  talk runs;
- a local Qdrant folder: refused (one process at a time may open it).

Workers that cannot see the workspace (another machine) keep a scratch workspace in their temporary folder and send
each cleaned transcript back; the driver stores it in its own workspace, the source of truth. Manifest files are on
the driver's machine, so for such workers the driver reads and parses them (a few milliseconds a talk) and sends
the transcript; YouTube talks are fetched by the workers themselves.

Interrupts. Ctrl-C reaches only the driver (Ray workers run in their own process groups, and ignore SIGINT): no new
talk is handed out, the ones already handed to workers finish and are recorded, the rest stay pending. A killed
driver takes its job's actors with it; a talk they had stored but the driver had not recorded stays pending and is
redone (replaced, never duplicated) by the next run. A worker that dies fails its talks (`--retry-failed` retries
them); the others go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress

from pipeline.batch.manifest import BatchError
from pipeline.batch.run import BatchRun
from pipeline.batch.state import BatchState
from pipeline.batch.work import (
    FetcherKey,
    Job,
    StageError,
    TalkOutcome,
    fetcher_key,
    first_line,
    ingest_and_recap,
    install_component_timings,
    load_transcript,
    make_fetcher,
    make_outcome,
    write_recap_files,
    youtube_session,
)
from pipeline.models import TalkRecap, Transcript
from pipeline.stores import StoreConfig
from pipeline.workspace import Workspace, atomic_write

TALKS_PER_WORKER = 2  # one computing, the next loading
RETRY_LOGGER = logging.getLogger("pipeline.sources.youtube")  # where a local batch logs its YouTube retry lines
OBJECT_STORE_BYTES = 256 * 1024**2  # results are small (a recap, a transcript): no need for Ray's 30% of RAM
CONNECT_TIMEOUT = 5.0
_RAY_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report (and no network attempt) at start-up
    "RAY_DEDUP_LOGS": "0",  # worker logs are not forwarded anyway (log_to_driver=False)
    "RAY_DISABLE_IMPORT_WARNING": "1",
}


def check_store(store: StoreConfig) -> None:
    """Refuse a store the Ray workers cannot share, before anything starts."""
    if store.kind == "qdrant" and not store.url:
        raise BatchError(
            "--engine ray cannot use a local Qdrant folder (one process at a time may open it): use a Qdrant server "
            "(--store qdrant --store-url http://HOST:6333), --store pgvector, or --engine local"
        )


# -- connecting ---------------------------------------------------------------------------------------------------


def _check_reachable(address: str) -> None:
    """Fail fast, in one line, when nothing answers at the address (Ray itself would retry for many minutes)."""
    if address == "auto":
        return  # Ray looks for a cluster started on this machine and fails at once when there is none
    scheme, _, target = address.rpartition("://")
    if scheme not in ("", "ray"):
        raise BatchError(f"--address '{address}': expected HOST:PORT, ray://HOST:PORT or auto")
    match = re.fullmatch(r"\[?([^\[\]]+?)\]?(?::(\d+))?", target)
    if match is None or not match.group(1):
        raise BatchError(f"--address '{address}': expected HOST:PORT, ray://HOST:PORT or auto")
    host, port = match.group(1), int(match.group(2) or (10001 if scheme == "ray" else 6379))
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        problem = error.strerror or str(error) or type(error).__name__
        raise BatchError(f"cannot reach the Ray cluster at {address} ({problem})") from None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Ray's C++ core prints its connection retries straight to file descriptor 2; while Ray starts or connects,
    they go to a temporary file instead (the outcome is one line from us either way)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _ray_reason(error: BaseException) -> str:
    """One line for a Ray error: the exception the worker raised, when Ray's message carries it."""
    import ray.exceptions

    if isinstance(error, ray.exceptions.RayTaskError) and error.cause is not None:
        return first_line(error.cause)
    raised = re.findall(r"^\s*(\w+(?:Error|Exception): .+)$", str(error), flags=re.MULTILINE)
    return raised[-1].strip() if raised else first_line(error)


# -- the actor ----------------------------------------------------------------------------------------------------


@dataclass
class WorkerResult:
    """What an actor sends back for a talk: its outcome, the recap to write (done talks), and the cleaned
    transcript when the actor cannot see the driver's workspace."""

    outcome: TalkOutcome
    recap_json: str | None = None
    transcript_json: str | None = None


def _scratch_workspace(root: Path) -> Path:
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"talks-ray-{digest}"


def _models_loaded() -> int | None:
    """How many embedding models this process holds (Haystack caches one backend per model and settings)."""
    try:
        from haystack_integrations.components.embedders.sentence_transformers.embedding_backend.backend import (
            _SentenceTransformersEmbeddingBackendFactory as Factory,
        )
    except ImportError:
        return None
    return len(Factory._instances)


class TalkWorker:
    """A Ray actor (`ray.remote(TalkWorker)`): one warmed-up Ingestor and Recapper, the talks it is handed.

    `settings`: `workspace` (the driver's workspace root), `probe` and `token` (the file the driver wrote there and
    its content: whether this worker sees the workspace), `store` (a `StoreConfig` dict), `fetch` (the batch's
    caption request and YouTube options), `torch_threads` (None: leave as Ray set it), `shared_workspace` (False:
    act as if on another machine; for tests)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        with contextlib.suppress(ValueError):  # Ctrl-C is the driver's: it lets the talks in progress finish
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.settings = settings
        self.store = StoreConfig.model_validate(settings["store"])
        self.compute = threading.Lock()
        self.guard = threading.Lock()
        self.fetchers: dict[FetcherKey, Any] = {}
        self.client: Any = None
        self.warm_ups = 0
        self.talks = 0
        self.shared = False
        self.workspace: Workspace | None = None
        self.ingestor: Any = None
        self.recapper: Any = None

    def warm_up(self) -> dict[str, Any]:
        """See the workspace (or take a scratch one), load the models once; returns `stats()`."""
        from pipeline.ingest import Ingestor
        from pipeline.pipelines import IndexSettings
        from pipeline.recap import Recapper

        root = Path(self.settings["workspace"])
        probe = root / "batch" / self.settings["probe"]
        try:
            seen = probe.read_text() == self.settings["token"]
        except OSError:
            seen = False
        self.shared = seen and self.settings.get("shared_workspace", True)
        self.workspace = Workspace(root if self.shared else _scratch_workspace(root)).create()
        if self.shared and Path(self.settings["cwd"]).is_dir():
            os.chdir(self.settings["cwd"])  # manifest paths relative to the driver's folder read the same files
        if not self.shared and self.store.kind == "memory":
            return self.stats()  # the driver refuses: this worker's chunks would land where nobody reads them
        threads = self.settings.get("torch_threads")
        if threads:
            import torch

            torch.set_num_threads(threads)
        install_component_timings()  # stage timings of every talk
        with self.compute:
            if self.ingestor is None:
                settings = IndexSettings(restore_punctuation=self.settings.get("restore_punctuation", "auto"))
                self.ingestor = Ingestor(self.workspace, settings, store=self.store)
                self.ingestor.warm_up()
                self.recapper = Recapper(self.workspace)
                self.recapper.warm_up()
                self.warm_ups += 1
        return self.stats()

    def stats(self) -> dict[str, Any]:
        import ray
        import torch

        return {
            "pid": os.getpid(),
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "warm_ups": self.warm_ups,
            "models": _models_loaded(),
            "talks": self.talks,
            "shared_workspace": self.shared,
            "torch_threads": torch.get_num_threads(),
        }

    def _fetcher(self, job: Job) -> Any:
        if not job.row.video_id:
            return None
        options = self.settings["fetch"]
        key = fetcher_key(job.row, options)
        with self.guard:
            if key not in self.fetchers:
                if self.client is None:
                    self.client = youtube_session(options)
                assert self.workspace is not None
                fetcher = make_fetcher(key, options, self.workspace.cache_dir / "youtube", self.client)
                if self.settings.get("retries") is not None:
                    fetcher.on_retry = self._forward_retry
                self.fetchers[key] = fetcher
            return self.fetchers[key]

    def _forward_retry(self, line: str) -> None:
        """A YouTube retry line, sent to the driver (worker logs do not reach its terminal); never blocks a fetch."""
        with contextlib.suppress(Exception):
            self.settings["retries"].put_nowait(line)

    def process(
        self,
        job: Job,
        stored_json: str | None = None,
        loaded_json: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> WorkerResult:
        """One talk, start to end; never raises (an error is the talk's outcome). `stored_json`: the transcript to
        recap for a recap-only job; `loaded_json`: the transcript the driver read and parsed (a file this worker
        cannot see), with the `timings` it took."""
        started = time.perf_counter()
        timings = dict(timings or {})
        before = sum(timings.values())
        with self.guard:
            self.talks += 1
        try:
            transcript = None
            if loaded_json is not None:
                transcript = Transcript.model_validate_json(loaded_json)
            elif not job.recap_only:
                loaded = load_transcript(job, self._fetcher(job), timings)
                if isinstance(loaded, TalkOutcome):
                    return WorkerResult(loaded)
                transcript = loaded
            stored = Transcript.model_validate_json(stored_json) if stored_json else None
            waiting = time.perf_counter()
            with self.compute:
                timings["queue"] = time.perf_counter() - waiting
                chunks, recap = ingest_and_recap(
                    job.row.talk_id, transcript, self.ingestor, self.recapper, timings, stored=stored
                )
            sent = None
            if not self.shared and transcript is not None:
                assert self.workspace is not None
                sent = self.workspace.transcript_path(job.row.talk_id).read_text(encoding="utf-8")
        except Exception as error:
            stage, reason = ("worker", first_line(error))
            if isinstance(error, StageError):
                stage, reason = error.stage, error.reason
            timings["total"] = before + time.perf_counter() - started
            failed = make_outcome(job.row, "failed", reason=reason, stage=stage, timings=timings, attempted=True)
            return WorkerResult(failed)
        timings["total"] = before + time.perf_counter() - started
        done = make_outcome(job.row, "done", chunks=chunks, timings=timings, attempted=True)
        return WorkerResult(done, recap.model_dump_json(), sent)


# -- the driver ---------------------------------------------------------------------------------------------------


class RayEngine:
    """Starts (or joins) Ray, starts the actors, hands out talks and records what comes back."""

    def __init__(self, run: BatchRun) -> None:
        self.run = run
        self.address: str | None = run.options.address or os.environ.get("RAY_ADDRESS") or None
        self.settings = dict(run.options.ray_options)
        self.torch_threads: int | None = None
        self.workers: list[dict[str, Any]] = []
        self.startup = 0.0
        self.started_ray = False
        self.retries: Any = None  # a Ray queue of the workers' YouTube retry lines

    def execute(self, jobs: list[Job], stored: BatchState, progress: Progress) -> list[TalkOutcome]:
        run = self.run
        task = progress.add_task("starting Ray", total=len(jobs), ok=0, bad=0)
        started = time.perf_counter()
        token = uuid.uuid4().hex
        probe = run.workspace.batch_dir / f".ray-{token}.probe"
        actors: list[Any] = []
        try:
            try:
                self._connect()
                atomic_write(probe, token.encode())
                count = min(run.jobs, len(jobs))
                progress.update(task, description=f"starting {count} Ray worker{'s' if count > 1 else ''}")
                if any(job.row.video_id for job in jobs):
                    from ray.util.queue import Queue

                    self.retries = Queue(maxsize=1000, actor_options={"num_cpus": 0})  # retry lines are few
                actors = self._start_workers(count, probe.name, token)
            except KeyboardInterrupt:  # nothing handed out yet
                run.interrupt(progress)
                return [run.outcome(job.row, "pending", reason="interrupted") for job in jobs]
            finally:
                probe.unlink(missing_ok=True)
            self.startup = time.perf_counter() - started
            return self._dispatch(actors, jobs, stored, progress, task)
        finally:
            self._stop(actors)

    # start and stop

    def _connect(self) -> None:
        for name, value in _RAY_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        try:
            import ray
        except ImportError:
            raise BatchError("--engine ray needs Ray: pip install 'ray>=2.9'") from None
        if self.address:
            _check_reachable(self.address)
        if ray.is_initialized():
            return  # joined already (tests, notebooks): the caller's cluster, left running
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        self.started_ray = True
        try:
            with _quiet_stderr():
                self._init(ray, quiet)
        except Exception as error:
            with contextlib.suppress(Exception):
                ray.shutdown()
            where = f"connect to the Ray cluster at {self.address}" if self.address else "start a local Ray"
            raise BatchError(f"cannot {where}: {first_line(error)}") from None

    def _init(self, ray: Any, quiet: dict[str, Any]) -> None:
        if self.address:
            ray.init(address=self.address, **quiet)
        else:
            ray.init(
                address="local",
                num_cpus=self.run.jobs,
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                **quiet,
            )

    def _start_workers(self, count: int, probe: str, token: str) -> list[Any]:
        import ray

        run = self.run
        if self.address and (cpus := ray.cluster_resources().get("CPU", 0)) < count:
            run.console.print(
                f"[yellow]warning:[/yellow] the Ray cluster has {cpus:g} CPUs: some of the {count} workers wait for "
                "free ones",
                highlight=False,
            )
        options = run.options
        settings = {
            "workspace": str(run.workspace.root.absolute()),
            "cwd": os.getcwd(),
            "probe": probe,
            "token": token,
            "store": options.store.model_dump(),
            "fetch": options.model_copy(update={"ray_options": {}}),  # the caption request and YouTube options
            "torch_threads": self._threads(count),
            "restore_punctuation": options.restore_punctuation,
            "retries": self.retries,
            **self.settings,
        }
        remote = ray.remote(TalkWorker).options(num_cpus=1, max_concurrency=TALKS_PER_WORKER, max_restarts=0)
        actors = [remote.remote(settings) for _ in range(count)]
        try:
            self.workers = self._wait([actor.warm_up.remote() for actor in actors])
        except ray.exceptions.RayError as error:
            self._stop(actors)
            raise BatchError(
                f"the Ray workers could not start: {_ray_reason(error)} (every node needs the talks package and its "
                "dependencies, and must reach the store)"
            ) from None
        except BaseException:
            self._stop(actors)
            raise
        blind = [worker for worker in self.workers if not worker["shared_workspace"]]
        if blind and options.store.kind in ("sqlite", "memory"):
            self._stop(actors)
            raise BatchError(
                f"the {options.store.kind} store lives in the workspace ({run.workspace.root}), which the Ray "
                f"workers on {', '.join(sorted({worker['host'] for worker in blind}))} cannot see: use --store "
                "pgvector or a Qdrant server (--store-url), a workspace every node shares, or no --address"
            )
        self.torch_threads = self.workers[0]["torch_threads"] if self.workers else None
        return actors

    def _threads(self, count: int) -> int | None:
        """On a local Ray started for this run: torch threads per worker as the local engine gives them
        (`cpus // jobs`, unless `OMP_NUM_THREADS` is set). On a cluster: Ray's (one a CPU the actor holds)."""
        if not self.started_ray or self.address or "OMP_NUM_THREADS" in os.environ:
            return None
        return max(1, (os.cpu_count() or 1) // max(1, count))

    @staticmethod
    def _wait(refs: list[Any]) -> list[Any]:
        """`ray.get`, waiting in short steps so Ctrl-C is seen."""
        import ray

        while True:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0.5)
            if len(ready) == len(refs):
                return ray.get(refs)

    def _stop(self, actors: list[Any]) -> None:
        """The workers' last figures, then end them (and the local Ray this run started)."""
        import ray

        if actors and ray.is_initialized():
            with contextlib.suppress(Exception):
                ready, _ = ray.wait([actor.stats.remote() for actor in actors], num_returns=len(actors), timeout=10)
                figures = {}
                for ref in ready:
                    with contextlib.suppress(Exception):
                        stats = ray.get(ref)
                        figures[stats["pid"]] = stats
                self.workers = [figures.get(worker["pid"], worker) for worker in self.workers]
            for actor in actors:
                with contextlib.suppress(Exception):
                    ray.kill(actor)
            actors.clear()
        if self.retries is not None and ray.is_initialized():
            with contextlib.suppress(Exception):
                self.retries.shutdown()
        self.retries = None
        if self.started_ray and ray.is_initialized():
            self.started_ray = False
            with contextlib.suppress(Exception):
                ray.shutdown()

    # handing out talks

    def _dispatch(
        self, actors: list[Any], jobs: list[Job], stored: BatchState, progress: Progress, task: Any
    ) -> list[TalkOutcome]:
        import ray

        run = self.run
        waiting = deque(jobs)
        alive = list(range(len(actors)))
        load = [0] * len(actors)
        inflight: dict[Any, tuple[Job, int]] = {}
        outcomes: list[TalkOutcome] = []
        finished: set[str] = set()

        def record(outcome: TalkOutcome) -> None:
            if outcome.talk_id in finished:  # seen already (Ctrl-C cut the last round short)
                return
            finished.add(outcome.talk_id)
            outcomes.append(outcome)
            if outcome.status == "pending" and outcome.retryable:
                run.request_stop(outcome.reason)
            run.record(outcome, stored)
            run.show(outcome, progress, task)

        progress.update(task, description="fetching")
        while waiting or inflight:
            try:
                while waiting and not run.stop.is_set():
                    free = [n for n in alive if load[n] < TALKS_PER_WORKER]
                    if not free:
                        break
                    worker = min(free, key=load.__getitem__)
                    job = waiting[0]
                    payload = self._hand_out(job, self.workers[worker]["shared_workspace"])
                    if isinstance(payload, TalkOutcome):
                        record(payload)
                    else:
                        inflight[actors[worker].process.remote(job, *payload)] = (job, worker)
                        load[worker] += 1
                    waiting.popleft()
                while waiting and run.stop.is_set():
                    record(run.outcome(waiting[0].row, "pending", reason=run.stop_reason))
                    waiting.popleft()
                if not inflight:
                    continue
                progress.update(task, description=run.describe([job.row.talk_id for job, _ in inflight.values()]))
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
                self._log_retries()
                for ref in ready:
                    job, worker = inflight[ref]
                    if job.row.talk_id not in finished:
                        record(self._result(ref, job, worker, alive))
                    del inflight[ref]
                    load[worker] -= 1
                if not alive and waiting:
                    run.request_stop("every Ray worker died (see the Ray logs)")
            except KeyboardInterrupt:
                run.interrupt(progress)
        self._log_retries()
        run.flush(outcomes, stored)
        return outcomes

    def _log_retries(self) -> None:
        """Log the workers' YouTube retry lines as a local batch does (WARNING, naming the talk and attempt)."""
        if self.retries is None:
            return
        with contextlib.suppress(Exception):
            for line in self.retries.get_nowait_batch(self.retries.qsize()):
                RETRY_LOGGER.warning("%s", line)

    def _hand_out(self, job: Job, shared: bool) -> tuple[str | None, str | None, dict[str, float]] | TalkOutcome:
        """What a worker gets beside the job: a recap-only job's transcript; for a file the worker cannot see (it
        runs on another machine), the transcript read and parsed here, with its timings, or the load failure."""
        if job.recap_only:
            return self._stored_transcript(job), None, {}
        if shared or job.row.video_id:
            return None, None, {}
        timings: dict[str, float] = {}
        loaded = load_transcript(job, None, timings)
        if isinstance(loaded, TalkOutcome):
            return loaded
        return None, loaded.model_dump_json(), timings

    def _stored_transcript(self, job: Job) -> str:
        """A recap-only job's transcript, from the driver's workspace (the worker may not see it)."""
        return self.run.workspace.transcript_path(job.row.talk_id).read_text(encoding="utf-8")

    def _result(self, ref: Any, job: Job, worker: int, alive: list[int]) -> TalkOutcome:
        """The talk's outcome, once its files are written here: the transcript (from a worker that cannot see the
        workspace), then the recap; only then may the state file say done."""
        import ray

        try:
            result: WorkerResult = ray.get(ref)
        except ray.exceptions.RayActorError as error:
            if worker in alive:
                alive.remove(worker)
            reason = f"the Ray worker died: {_ray_reason(error)}"
            return self.run.outcome(job.row, "failed", reason=reason, stage="worker", attempted=True)
        except ray.exceptions.RayError as error:
            return self.run.outcome(job.row, "failed", reason=_ray_reason(error), stage="worker", attempted=True)
        outcome = result.outcome
        if outcome.status != "done" or result.recap_json is None:
            return outcome
        stage = "write"
        try:
            if result.transcript_json is not None:
                self._save_transcript(job.row.talk_id, result.transcript_json)
            stage = "recap"
            before = outcome.timings.get("render", 0.0)
            write_recap_files(self.run.out_dir, TalkRecap.model_validate_json(result.recap_json), outcome.timings)
            outcome.timings["total"] = outcome.timings.get("total", 0.0) + outcome.timings["render"] - before
        except Exception as error:
            outcome.status, outcome.stage, outcome.reason = "failed", stage, first_line(error)
        return outcome

    def _save_transcript(self, talk_id: str, text: str) -> None:
        workspace = self.run.workspace
        path = workspace.transcript_path(talk_id)
        with workspace.talk_lock(talk_id):
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                atomic_write(path, text.encode())
