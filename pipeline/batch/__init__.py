"""Batch-process a whole conference from a manifest, with progress, per-talk state and resume.

A manifest (CSV, JSON Lines or YAML) lists talks; `run_batch` ingests each one into the workspace and the chosen
chunk store, and writes its recap (`<id>.json`) and Markdown draft (`<id>.md`) to the output folder.

    manifest rows ─► plan (state file: skip done, skip failed unless --retry-failed)
                  ─► engine: load (fetch/read, parse) → ingest (clean, chunk, embed, write) → recap, per talk
                  ─► this process: progress bar, state file (one atomic update per talk), recap files, report

Modules: `options` (`BatchOptions`, the typed settings), `manifest` (parsing), `state` (the state file), `work`
(one talk's work and timings, shared by the engines), `run` (`BatchRun`: plan and bookkeeping, and the `Engine`
protocol), `runner` (`run_batch`), `report` (`BatchReport`, `print_report`), and the engines: `local` (threads in
this process, the default) and `ray_engine` (Ray actors, `--engine ray`). Imports go one way: runner → run and the
engines → work/state/options; no engine imports the runner.

State: `<workspace>/batch/<manifest-stem>-<hash of its absolute path>.json` records each talk's status (pending,
done, failed), reason, attempts, a hash of its manifest row and stage timings. Only this process writes it, merging
under a file lock and replacing it atomically, so a kill at any moment keeps everything recorded. A talk is recorded
done only after its transcript, chunks and recap files are stored; a kill in between leaves it pending, and the
next run redoes it (a talk is always replaced as a whole, never duplicated). A YouTube block (or no network) stops
fetching: what is in flight finishes, the rest stays pending, and running the same command again resumes.
"""

from __future__ import annotations

import os

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from pipeline.batch.manifest import BatchError, Manifest, ManifestProblem, ManifestRow, read_manifest
from pipeline.batch.options import ENGINES, MAX_JOBS, BatchOptions
from pipeline.batch.report import BatchReport, print_report
from pipeline.batch.runner import run_batch
from pipeline.batch.state import STATE_FORMAT, BatchState, StateFile, TalkState
from pipeline.batch.work import TalkOutcome

__all__ = [
    "ENGINES",
    "MAX_JOBS",
    "STATE_FORMAT",
    "BatchError",
    "BatchOptions",
    "BatchReport",
    "BatchState",
    "Manifest",
    "ManifestProblem",
    "ManifestRow",
    "StateFile",
    "TalkOutcome",
    "TalkState",
    "print_report",
    "read_manifest",
    "run_batch",
]
