"""The result of a batch run: one outcome a manifest row, the malformed rows, how to resume; and its summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, computed_field
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.batch.manifest import ManifestProblem
from pipeline.batch.options import BatchOptions
from pipeline.batch.work import OutcomeStatus, TalkOutcome
from pipeline.stores import StoreConfig
from pipeline.workspace import Workspace, resolve_workspace


class BatchReport(BaseModel):
    """The result of `run_batch`: one outcome per manifest row (in manifest order) and the malformed rows.

    `workers` (Ray engine): one entry a Ray worker, `{"pid", "node", "warm_ups", "models", "talks",
    "shared_workspace", "torch_threads"}`; `startup` is the time to the first talk (model load, and for Ray the
    cluster start or connection and the workers' start). `talks batch --json` prints it, with `counts` and
    `exit_code`."""

    manifest: Path
    state_path: Path
    out_dir: Path
    outcomes: list[TalkOutcome] = Field(default_factory=list)
    problems: list[ManifestProblem] = Field(default_factory=list)
    stopped: str | None = None
    interrupted: bool = False
    resume: str | None = None
    seconds: float = 0.0
    torch_threads: int | None = None  # per worker, when any talk ran
    engine: str = "local"
    workers: list[dict[str, Any]] = Field(default_factory=list)
    startup: float = 0.0

    def with_status(self, status: OutcomeStatus) -> list[TalkOutcome]:
        return [outcome for outcome in self.outcomes if outcome.status == status]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        statuses = ("done", "skipped", "failed", "previously failed", "pending")
        return {status: len(self.with_status(status)) for status in statuses}  # type: ignore[arg-type]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def exit_code(self) -> int:
        """0 when every row is done; 130 after Ctrl-C; else 1 (failures, malformed rows, talks left pending)."""
        if self.interrupted:
            return 130
        unfinished = {"failed", "previously failed", "pending"}
        return 1 if self.problems or any(o.status in unfinished for o in self.outcomes) else 0


def resume_advice(report: BatchReport, options: BatchOptions, workspace: Workspace) -> str | None:
    """The command that picks up where this run left off, or None when nothing is left to resume."""
    pending = report.with_status("pending")
    failed = report.with_status("failed") + report.with_status("previously failed")
    if not pending and not failed:
        return None
    command = ["talks", "batch", _quote(str(report.manifest))]
    if workspace.root != resolve_workspace(None):
        command += ["--workspace", _quote(str(workspace.root))]
    if options.jobs != 1:
        command += ["--jobs", str(options.jobs)]
    if options.engine != "local":
        command += ["--engine", options.engine]
    if options.address:
        command += ["--address", _quote(options.address)]
    store = options.store
    if store.kind != StoreConfig().kind:
        command += ["--store", store.kind]
        if store.url:
            public = store.public()["url"]
            command += ["--store-url", _quote(store.url) if public == store.url else "URL"]
    if report.out_dir != workspace.root / "recaps":
        command += ["--out", _quote(str(report.out_dir))]
    if options.languages != ["en"]:
        command += ["--language", ",".join(options.languages)]
    if options.translate:
        command += ["--translate", options.translate]
    if options.proxy:
        command += ["--proxy", "URL"]
    if options.restore_punctuation != "auto":
        command += ["--restore-punctuation", options.restore_punctuation]
    lines = []
    if pending:
        lines.append(f"{len(pending)} talk(s) left pending; resume with: {' '.join(command)}")
        if report.stopped and "YouTube" in report.stopped and not options.proxy:
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
    if report.workers:
        nodes = len({worker["node"] for worker in report.workers})
        talks = " + ".join(str(worker["talks"]) for worker in report.workers)
        console.print(
            f"ray: {len(report.workers)} worker(s) on {nodes} node(s), talks per worker {talks}, "
            f"start-up {report.startup:.1f}s",
            highlight=False,
        )
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
