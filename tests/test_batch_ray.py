"""`talks batch --engine ray`: Ray actors (a local Ray started by the test) do the talks, the driver keeps the books.

Ray and the workers' start-up are slow (seconds each), so one Ray serves the module and the runs are few."""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

pytest.importorskip("ray")

from typer.testing import CliRunner

from pipeline.batch import BatchError, BatchState, print_report, run_batch
from pipeline.cli import app
from pipeline.models import TalkRecap, Transcript
from pipeline.stores import StoreConfig, open_store
from pipeline.workspace import Workspace
from tests.conftest import DATA, ROOT
from tests.fakeyoutube import FakeYouTube, FakeYouTubeSession, closed_port, standard_talk
from tests.helpers import talks_env
from tests.pgserver import create_database
from tests.test_batch import quiet, statuses, stored_state, wait_for_done, write_manifest, write_talks

STAGES = {"parse", "queue", "clean", "chunk", "embed", "write", "recap", "render", "total"}


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A local Ray for the module (2 CPUs, no dashboard); its address lets a `talks` subprocess join it."""
    import ray

    context = ray.init(
        address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
    )
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def pgvector(postgres_url: str) -> StoreConfig:
    """A fresh pgvector database for the module's runs."""
    return StoreConfig(kind="pgvector", url=create_database(postgres_url, "batch_ray"))


@pytest.fixture(scope="module")
def conference(tmp_path_factory) -> Path:
    """Four small talks, an empty (bad) file and a YouTube video, listed in a manifest."""
    folder = tmp_path_factory.mktemp("conf")
    sources = write_talks(folder, 4)
    (folder / "broken.vtt").write_text("")
    return write_manifest(folder / "manifest.csv", [*sources, "broken.vtt", VIDEO])


@pytest.fixture(scope="module")
def first_run(ray_address, conference: Path, pgvector: StoreConfig, tmp_path_factory):
    """The batch, with the video's first player request answered by YouTube's bot check (one retry in a worker)."""
    workspace = Workspace(tmp_path_factory.mktemp("ray") / "ws")
    retries = _LogLines()
    logging.getLogger("pipeline").addHandler(retries)
    try:
        with FakeYouTube() as fake:
            fake.add(VIDEO, dataclasses.replace(standard_talk(), bot_checks=1))
            session = functools.partial(FakeYouTubeSession, fake.base_url, timeout=10)  # each worker makes its own
            report = run_batch(
                conference,
                workspace,
                jobs=2,
                engine="ray",
                store=pgvector,
                http_client=session,
                youtube_options={"max_attempts": 2, "backoff_seconds": 0.001},
                console=quiet(),
            )
            assert fake.count(video_id=VIDEO) > 0  # fetched by a worker, through the fake
    finally:
        logging.getLogger("pipeline").removeHandler(retries)
    return workspace, report, retries.lines


class _LogLines(logging.Handler):
    """WARNING lines logged in this (the driver's) process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


VIDEO = "rayVideo001"
TALKS = ["talk-00", "talk-01", "talk-02", "talk-03", VIDEO]


def test_ray_batch_records_state_report_chunks_and_recaps(first_run, pgvector: StoreConfig):
    workspace, report, _ = first_run
    assert statuses(report) == {**dict.fromkeys(TALKS, "done"), "broken": "failed"}, report.outcomes
    assert report.engine == "ray" and report.exit_code == 1
    broken = next(outcome for outcome in report.outcomes if outcome.talk_id == "broken")
    assert broken.stage == "load" and "file is empty" in broken.reason
    assert "--retry-failed" in report.resume and "--engine ray" in report.resume and "--store pgvector" in report.resume

    state = stored_state(report)
    assert {talk: entry.status for talk, entry in state.talks.items()} == statuses(report)
    assert all(entry.attempts == 1 for entry in state.talks.values())
    for talk in TALKS:
        entry = state.talks[talk]
        assert set(entry.timings) >= STAGES, entry.timings
        assert entry.chunks == next(o.chunks for o in report.outcomes if o.talk_id == talk) > 0
    assert not list(workspace.batch_dir.glob(".ray-*"))  # the probe file is gone

    with open_store(pgvector, workspace.root) as store:  # the chunks are in the shared store
        assert store.talk_ids() == sorted(TALKS)
        assert {talk: store.header(talk)["chunks"] for talk in TALKS} == {t: state.talks[t].chunks for t in TALKS}
        assert store.count_chunks() == sum(state.talks[talk].chunks for talk in TALKS)
    assert workspace.talk_ids() == sorted(TALKS)
    assert workspace.load_transcript("talk-02").talk.title == "Talk 2"
    video = workspace.load_transcript(VIDEO)
    assert (video.talk.title, video.talk.youtube_id) == ("Talk 5", VIDEO)
    assert video.segments[0].text.lower().startswith("[en manual]")  # restored: "[En manual]. Welcome ..."
    assert state.talks[VIDEO].timings["fetch"] > 0
    assert not list(workspace.index_dir.glob("*.npz"))  # nothing went to the memory store
    for talk in TALKS:
        assert TalkRecap.model_validate_json((report.out_dir / f"{talk}.json").read_text()).talk.id == talk
        assert (report.out_dir / f"{talk}.md").read_text().strip()

    output = Console(file=io.StringIO(), width=200)
    print_report(report, output)
    text = output.file.getvalue()
    assert "5 done · 0 skipped (already done) · 1 failed" in text and "ray: 2 worker(s) on 1 node(s)" in text


def test_a_workers_youtube_retry_is_logged_by_the_driver(first_run):
    *_, lines = first_run
    retries = [line.split(" failed")[0] for line in lines if "attempt" in line]
    assert retries == [f"talk {VIDEO} (youtube:{VIDEO}): attempt 1 of 2"], lines


def test_each_worker_loads_the_model_once(first_run):
    _, report, _ = first_run
    workers = report.workers
    assert len(workers) == 2 and len({worker["pid"] for worker in workers}) == 2
    assert os.getpid() not in {worker["pid"] for worker in workers}  # the work ran in the actors
    assert [(worker["warm_ups"], worker["models"]) for worker in workers] == [(1, 1), (1, 1)]
    assert sum(worker["talks"] for worker in workers) == 6 and all(worker["talks"] >= 1 for worker in workers)
    assert all(worker["shared_workspace"] for worker in workers)


def test_rerun_skips_done_then_retry_failed(first_run, conference: Path, pgvector: StoreConfig):
    workspace, first, _ = first_run
    before = {talk: workspace.transcript_path(talk).stat().st_mtime_ns for talk in TALKS}
    again = run_batch(conference, workspace, jobs=2, engine="ray", store=pgvector, console=quiet())
    assert statuses(again) == {**dict.fromkeys(TALKS, "skipped"), "broken": "previously failed"}
    assert again.workers == []  # nothing to do: no Ray worker started
    assert stored_state(again) == stored_state(first)

    (conference.parent / "broken.vtt").write_text((DATA / "founder-talk.vtt").read_text()[:1500])
    (first.out_dir / "talk-00.json").unlink()  # a done talk without its recap: the recap is made again
    retried = run_batch(conference, workspace, jobs=2, engine="ray", store=pgvector, retry_failed=True, console=quiet())
    skipped = dict.fromkeys(TALKS[1:], "skipped")
    assert statuses(retried) == {"talk-00": "done", **skipped, "broken": "done"}, retried.outcomes
    assert len(retried.workers) == 2
    recap_only = next(outcome for outcome in retried.outcomes if outcome.talk_id == "talk-00")
    assert recap_only.chunks is None and "recap" in recap_only.timings
    assert TalkRecap.model_validate_json((first.out_dir / "talk-00.json").read_text()).talk.id == "talk-00"
    entry = stored_state(retried).talks["broken"]
    assert (entry.status, entry.attempts, entry.reason) == ("done", 2, None)
    assert stored_state(retried).talks["talk-00"].chunks == stored_state(first).talks["talk-00"].chunks
    assert {talk: workspace.transcript_path(talk).stat().st_mtime_ns for talk in TALKS} == before
    with open_store(pgvector, workspace.root) as store:
        assert store.talk_ids() == sorted([*TALKS, "broken"])
    assert retried.exit_code == 0 and retried.resume is None


def test_workers_on_other_machines(ray_address, tmp_path: Path, postgres_url: str):
    """Workers that cannot see the workspace: refused with the default (SQLite) store; with pgvector they send each
    cleaned transcript back and the driver stores it (`shared_workspace: False` makes local workers act as remote
    ones)."""
    folder = tmp_path / "conf"
    manifest = write_manifest(folder / "manifest.csv", write_talks(folder, 2))
    remote = {"shared_workspace": False}
    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(BatchError, match=r"the sqlite store lives in the workspace .* cannot see"):
        run_batch(manifest, workspace, engine="ray", ray_options=remote, console=quiet())
    state = BatchState.model_validate_json(next(workspace.batch_dir.glob("*.json")).read_bytes())
    assert {entry.status for entry in state.talks.values()} == {"pending"}  # registered, nothing ran

    store = StoreConfig(kind="pgvector", url=create_database(postgres_url, "batch_ray"))
    report = run_batch(manifest, workspace, engine="ray", store=store, ray_options=remote, console=quiet())
    assert set(statuses(report).values()) == {"done"}, report.outcomes
    assert [worker["shared_workspace"] for worker in report.workers] == [False]
    assert workspace.talk_ids() == ["talk-00", "talk-01"]  # sent back by the worker
    assert {"parse", "embed", "recap"} <= set(stored_state(report).talks["talk-01"].timings)  # parsed here, sent
    assert Transcript.model_validate_json(workspace.transcript_path("talk-01").read_text()).talk.title == "Talk 1"
    with open_store(store, workspace.root) as chunk_store:
        assert chunk_store.talk_ids() == ["talk-00", "talk-01"]


def test_unusable_cluster_or_store_is_one_line(tmp_path: Path, conference: Path):
    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(BatchError, match="cannot use a local Qdrant folder"):
        run_batch(conference, workspace, engine="ray", store=StoreConfig(kind="qdrant"), console=quiet())
    with pytest.raises(BatchError, match="--address needs --engine ray"):
        run_batch(conference, workspace, address="127.0.0.1:6379", console=quiet())

    port = closed_port()  # the CLI, in process (a subprocess would spend seconds importing)
    address = f"127.0.0.1:{port}"
    result = CliRunner().invoke(
        app, ["batch", str(conference), "-w", str(workspace.root), "--engine", "ray", "--address", address]
    )
    assert (result.exit_code, type(result.exception)) == (1, SystemExit)  # no traceback: a clean exit
    assert result.stderr.strip() == f"error: cannot reach the Ray cluster at {address} (Connection refused)"
    assert result.stdout == ""


def test_ctrl_c_on_a_cluster_finishes_the_talks_in_progress(ray_address: str, tmp_path: Path):
    """`python -m pipeline.batch --engine ray --address` joins the module's Ray (the memory store is fine: the
    workers see the workspace); Ctrl-C lets the talks handed out finish and records them, the rest stays pending
    (a re-run resumes: the plan is the local engine's, tested in test_batch.py)."""
    folder = tmp_path / "conf"
    manifest = write_manifest(folder / "manifest.csv", write_talks(folder, 12))
    workspace = Workspace(tmp_path / "ws")
    command = [sys.executable, "-m", "pipeline.batch", str(manifest), "--workspace", str(workspace.root)]
    process = subprocess.Popen(
        [*command, "--jobs", "2", "--engine", "ray", "--address", ray_address],
        env=talks_env(workspace.root),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    state_file = wait_for_done(workspace, process, 2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr.decode()
    state = BatchState.model_validate_json(state_file.read_bytes())
    done = {talk for talk, entry in state.talks.items() if entry.status == "done"}
    assert set(workspace.talk_ids()) == done  # every talk written is recorded: nothing in flight was lost
    assert {entry.status for entry in state.talks.values()} == {"done", "pending"}
    assert not list(workspace.root.rglob("*.tmp")) and not list(workspace.batch_dir.glob(".ray-*"))
    with open_store(StoreConfig(), workspace.root) as index:  # the default store
        stored = {talk: index.header(talk)["chunks"] for talk in index.talk_ids()}
    assert stored == {t: state.talks[t].chunks for t in done}
    assert "interrupted" in stderr.decode() and "Traceback" not in stderr.decode()
