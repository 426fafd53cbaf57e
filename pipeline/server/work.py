"""What the server's background jobs do, through the library: ingest sources one at a time (exact progress, cancel
between talks), or run a manifest's batch while following its state file for per-talk progress."""

from __future__ import annotations

import contextlib
import ctypes
import io
import threading
from pathlib import Path

from rich.console import Console

from pipeline.api import Library, Step, TalksError
from pipeline.models import IngestFailure, IngestOptions
from pipeline.server.jobs import JobCancelled, JobContext
from pipeline.server.schemas import JobItem


def ingest_work(library: Library):
    """Ingest job: `params` = {"sources": [path or YouTube id], "options": IngestOptions}; items already done (from
    before a restart) are skipped."""

    def run(context: JobContext) -> dict:
        options = IngestOptions.model_validate(context.job.params.get("options") or {})
        sources: list[str] = context.job.params["sources"]
        for index, source in enumerate(sources):
            if context.job.items[index].status in ("done", "failed"):
                continue
            context.check()
            context.item(index, "running", "reading")

            def progress(step: Step, index: int = index) -> None:
                if step.result is None:
                    context.item(index, "running", step.label)

            try:
                report = library.ingest([source], options, progress=progress)
            except TalksError as error:
                context.item(index, "failed", str(error))
                continue
            if report.failures:
                context.item(index, "failed", _problem(report.failures[0]))
            elif report.talks:
                talk = report.talks[0]
                verb = "replaced" if talk.replaced else "ingested"
                context.item(index, "done", f"{verb}: {talk.segments} segments, {talk.chunks} chunks", talk.talk_id)
            else:
                context.item(index, "failed", "no transcript found")
        return {}

    return run


def _problem(failure: IngestFailure) -> str:
    """The CLI's one line, with an uploaded file named by its own name, not the server's folder."""
    return f"{Path(failure.source).name}: {failure.problem}" if "/" in failure.source else str(failure)


def batch_work(library: Library):
    """Batch job: `params` = {"manifest": path, "jobs": n, "languages": "en", "retry_failed": bool}. Runs
    `Library.batch` (its state file makes a re-run resume) while a watcher mirrors the state file into the job's
    items. Cancelling interrupts it the way Ctrl-C does: talks in flight finish, the rest stays pending."""

    def run(context: JobContext) -> dict:
        from pipeline.batch import StateFile

        manifest = Path(context.job.params["manifest"])
        state = StateFile(library.workspace, manifest)
        names = [item.name for item in context.job.items]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.5):
                with contextlib.suppress(Exception):  # a state file being replaced is read next time
                    _mirror(context, names, state.load())

        watcher = threading.Thread(target=watch, name="talks-batch-watch", daemon=True)
        watcher.start()
        stop = _interrupt_on_cancel(context, threading.get_ident(), done)
        try:
            report = library.batch(
                manifest,
                console=Console(file=io.StringIO(), width=120),
                jobs=int(context.job.params.get("jobs", 1)),
                retry_failed=bool(context.job.params.get("retry_failed", True)),
                languages=context.job.params.get("languages", "en"),
            )
        except KeyboardInterrupt:
            raise JobCancelled() from None
        finally:
            done.set()
            stop.join()
            watcher.join()
        result = batch_report(report)
        items = [
            JobItem(name=o["talk_id"], talk_id=o["talk_id"], status=_item_status(o["status"]), message=o["reason"])
            for o in result["talks"]
        ]
        context.set_items(items)
        if report.interrupted:
            raise JobCancelled()
        return result

    return run


def _interrupt_on_cancel(context: JobContext, thread_id: int, done: threading.Event) -> threading.Thread:
    """Raises KeyboardInterrupt in the batch's thread when the job is cancelled: the batch's own Ctrl-C handling
    then finishes the talks in flight and records the rest as pending."""

    def wait() -> None:
        while not done.is_set():
            if context.cancel.wait(0.2):
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(thread_id), ctypes.py_object(KeyboardInterrupt)
                )
                return

    thread = threading.Thread(target=wait, name="talks-batch-cancel", daemon=True)
    thread.start()
    return thread


def _item_status(status: str) -> str:
    return {"done": "done", "skipped": "done", "pending": "pending"}.get(status, "failed")  # skipped: already done


def _mirror(context: JobContext, names: list[str], state) -> None:
    changed = False
    items = [item.model_copy() for item in context.manager.get(context.job.id).items]
    for item in items:
        entry = state.talks.get(item.name)
        if entry is None:
            continue
        status = {"done": "done", "failed": "failed"}.get(entry.status, item.status)
        if status != item.status:
            item.status, item.message, item.talk_id = status, entry.reason, item.name
            changed = True
    if changed:
        context.set_items(items)


def batch_report(report) -> dict:
    """The batch report as JSON: the same facts `talks batch` prints (per talk, counts, problems, resume)."""
    return {
        "manifest": Path(report.manifest).name,
        "counts": report.counts,
        "exit_code": report.exit_code,
        "seconds": round(report.seconds, 2),
        "stopped": report.stopped,
        "interrupted": report.interrupted,
        "talks": [
            {
                "talk_id": o.talk_id,
                "line": o.line,
                "status": o.status,
                "reason": o.reason,
                "stage": o.stage,
                "chunks": o.chunks,
                "seconds": round(o.seconds, 2),
            }
            for o in report.outcomes
        ],
        "problems": [str(problem) for problem in report.problems],
    }
