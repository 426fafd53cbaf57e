"""Background jobs (ingest, batch) that survive a server restart: each job is a JSON file in the workspace,
rewritten atomically on every change; a job still `running` or `queued` when the server starts again was killed
with the old server and is marked `interrupted`, ready to resume. One worker thread runs jobs in turn (ingest and
batch are CPU-bound; the asks stay responsive beside them)."""

from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from pipeline.server.schemas import FINISHED, ItemStatus, Job, JobItem, JobKind
from pipeline.workspace import atomic_write

JOB_ID_PATTERN = r"^[0-9a-f]{12}$"


class JobCancelled(Exception):
    """Raised inside a job's work when it was asked to stop."""


class JobError(ValueError):
    """A job request that cannot be done (unknown id, wrong state); the message says why."""


class JobContext:
    """What a job's work sees: its record, a way to report each item, and the cancel flag."""

    def __init__(self, manager: JobManager, job: Job, cancel: threading.Event) -> None:
        self.manager = manager
        self.job = job
        self.cancel = cancel

    def check(self) -> None:
        if self.cancel.is_set():
            raise JobCancelled()

    def item(self, index: int, status: ItemStatus, message: str | None = None, talk_id: str | None = None) -> None:
        def change(job: Job) -> None:
            entry = job.items[index]
            entry.status = status
            entry.message = message
            if talk_id:
                entry.talk_id = talk_id

        self.manager.update(self.job.id, change)

    def set_items(self, items: list[JobItem]) -> None:
        self.manager.update(self.job.id, lambda job: setattr(job, "items", items))

    @property
    def upload_dir(self) -> Path:
        return self.manager.upload_dir(self.job.id)


Work = Callable[[JobContext], dict | None]


def _now() -> datetime:
    return datetime.now(UTC)


class JobManager:
    """Jobs under `root` (`WORKSPACE/server`): `jobs/ID.json` records, `uploads/ID/` the files a job was given."""

    def __init__(self, root: Path, handlers: dict[JobKind, Work]) -> None:
        self.jobs_dir = root / "jobs"
        self.uploads_dir = root / "uploads"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.handlers = handlers
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="talks-job")
        self._load()

    def _load(self) -> None:
        for path in sorted(self.jobs_dir.glob("*.json")):
            try:
                job = Job.model_validate_json(path.read_bytes())
            except (ValidationError, OSError):
                continue  # a damaged record is left on disk for a human, not served
            if job.status in ("queued", "running"):
                job.status = "interrupted"
                job.error = "the server stopped while this job ran; resume it to finish"
                job.finished = _now()
                for item in job.items:
                    if item.status == "running":
                        item.status = "pending"
                self._save(job)
            self._jobs[job.id] = job

    def _save(self, job: Job) -> None:
        job.version += 1
        atomic_write(self.jobs_dir / f"{job.id}.json", job.model_dump_json(indent=1).encode())

    def upload_dir(self, job_id: str) -> Path:
        return self.uploads_dir / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex[:12]

    def submit(self, kind: JobKind, params: dict, items: list[JobItem], job_id: str | None = None) -> Job:
        job = Job(id=job_id or self.new_id(), kind=kind, created=_now(), params=params, items=items)
        with self._lock:
            self._jobs[job.id] = job
            self._save(job)
        self._start(job.id)
        return job.model_copy(deep=True)

    def _start(self, job_id: str) -> None:
        cancel = threading.Event()
        self._cancel[job_id] = cancel
        self._executor.submit(self._run, job_id, cancel)

    def _run(self, job_id: str, cancel: threading.Event) -> None:
        with self._lock:
            job = self._jobs[job_id]
            if cancel.is_set() or job.status != "queued":
                return
        self.update(job_id, lambda j: (setattr(j, "status", "running"), setattr(j, "started", _now())))
        context = JobContext(self, self.get(job_id), cancel)
        status, error, report = "done", None, None
        try:
            report = self.handlers[job.kind](context)
        except (JobCancelled, KeyboardInterrupt):  # KeyboardInterrupt: a cancelled batch (see work.py)
            status = "cancelled"
        except Exception as failure:  # a job's failure is reported on the job, never crashes the server
            status, error = "failed", str(failure) or type(failure).__name__
        if status == "done" and cancel.is_set():
            status = "cancelled"

        def finish(j: Job) -> None:
            j.status, j.error, j.finished = status, error, _now()  # type: ignore[assignment]
            if report is not None:
                j.report = report
            for item in j.items:
                if item.status == "running":
                    item.status = "pending"
            if status == "done" and any(item.status == "failed" for item in j.items) and not j.error:
                j.error = f"{sum(i.status == 'failed' for i in j.items)} of {len(j.items)} failed"

        self.update(job_id, finish)

    def update(self, job_id: str, change: Callable[[Job], object]) -> Job:
        with self._changed:
            job = self._jobs[job_id]
            change(job)
            self._save(job)
            self._changed.notify_all()
            return job.model_copy(deep=True)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobError(f"no job '{job_id}'")
            return job.model_copy(deep=True)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted((j.model_copy(deep=True) for j in self._jobs.values()), key=lambda j: j.created, reverse=True)

    def wait_change(self, job_id: str, version: int, timeout: float) -> Job:
        """The job once its version differs from `version` (or after `timeout` seconds)."""
        with self._changed:
            self._changed.wait_for(lambda: self._jobs[job_id].version != version, timeout=timeout)
            return self._jobs[job_id].model_copy(deep=True)

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.status in FINISHED:
            raise JobError(f"job '{job_id}' is already {job.status}")
        self._cancel[job_id].set()
        if job.status == "queued":
            return self.update(job_id, lambda j: (setattr(j, "status", "cancelled"), setattr(j, "finished", _now())))
        return job

    def resume(self, job_id: str) -> Job:
        """Runs an interrupted, cancelled or failed job again; its work skips what is already done."""
        job = self.get(job_id)
        if job.status not in ("interrupted", "cancelled", "failed"):
            raise JobError(f"job '{job_id}' is {job.status}: only an interrupted, cancelled or failed job resumes")

        def requeue(j: Job) -> None:
            j.status, j.error, j.finished, j.started = "queued", None, None, None
            for item in j.items:
                if item.status in ("failed", "running"):
                    item.status = "pending"

        self.update(job_id, requeue)
        self._start(job_id)
        return self.get(job_id)

    def running(self) -> bool:
        with self._lock:
            return any(j.status in ("queued", "running") for j in self._jobs.values())

    def shutdown(self) -> None:
        for event in self._cancel.values():
            event.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def remove_uploads(self, job_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.upload_dir(job_id))
