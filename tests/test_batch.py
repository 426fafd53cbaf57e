"""Batch processing from a manifest: parsing, state and resume, YouTube through the fake, concurrency, a kill."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from pipeline.batch import (
    BatchError,
    BatchReport,
    BatchState,
    StateFile,
    TalkState,
    print_report,
    read_manifest,
    run_batch,
)
from pipeline.models import TalkRecap, Transcript
from pipeline.stores import StoreConfig, open_store
from pipeline.workspace import Workspace
from tests.conftest import DATA, ROOT
from tests.fakeyoutube import (
    RECAPTCHA_PAGE,
    FakeVideo,
    FakeYouTube,
    fake_youtube,  # noqa: F401 - the fixture
    standard_talk,
)
from tests.helpers import talks_env

FAST_RETRIES = {"max_attempts": 2, "backoff_seconds": 0.001}
JOBS = 2  # where concurrency is not the point: two workers are quicker (each gets a share of the CPUs)


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def write_talks(folder: Path, count: int, turns: int = 3) -> list[str]:
    """`count` small plain-text talks cut from the fireside chat, each a different window of `turns` turns."""
    lines = [line for line in (DATA / "fireside-chat.txt").read_text().splitlines() if line.startswith("[")]
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for number in range(count):
        start = (number * 2) % (len(lines) - turns)
        name = f"talk-{number:02d}.txt"
        (folder / name).write_text("\n".join(lines[start : start + turns]) + "\n")
        names.append(name)
    return names


def write_manifest(path: Path, sources: list[str]) -> Path:
    rows = ["source,title,event"] + [f"{source},Talk {number},Test Conf" for number, source in enumerate(sources)]
    path.write_text("\n".join(rows) + "\n")
    return path


def statuses(report: BatchReport) -> dict[str, str]:
    return {outcome.talk_id: outcome.status for outcome in report.outcomes}


def stored_state(report: BatchReport) -> BatchState:
    return BatchState.model_validate_json(report.state_path.read_bytes())


# -- manifests ----------------------------------------------------------------------------------------------------


def test_csv_manifest_skips_malformed_rows_with_their_line_numbers(tmp_path: Path):
    manifest = tmp_path / "conf.csv"
    manifest.write_text(
        "source,id,title,speakers,event,date,language,Room\n"
        "a.txt,talk-a,Title A,Ann Lee;Bob Roe,Conf,2026-05-14,en,Hall 1\n"
        ",no-source,Nothing,,,,,\n"
        "b.txt,talk-b,,,,2026-13-01,,\n"
        "c.txt,bad id!,,,,,,\n"
        "d.txt,talk-a,,,,,,\n"
        '"e.txt",talk-e,"A title\nover two lines",,,,,\n'
        "f.txt,talk-f,x,,,,,,surplus\n"
        "\n"
        "sub/g.vtt\n"
        'https://youtu.be/dW7fT3kQm2A,,,,,,"de, en",\n'
    )
    parsed = read_manifest(manifest)
    assert [(row.line, row.talk_id) for row in parsed.rows] == [
        (2, "talk-a"),
        (7, "talk-e"),
        (11, "g"),
        (12, "dW7fT3kQm2A"),
    ]
    first = parsed.rows[0]
    assert first.location == str(tmp_path / "a.txt") and first.video_id is None
    assert first.metadata == {
        "id": "talk-a",
        "title": "Title A",
        "speakers": ["Ann Lee", "Bob Roe"],
        "event": "Conf",
        "date": date(2026, 5, 14),
        "language": "en",
        "Room": "Hall 1",
    }
    assert parsed.rows[1].metadata["title"] == "A title\nover two lines"
    youtube = parsed.rows[3]
    assert youtube.video_id == "dW7fT3kQm2A" and youtube.languages == ("de", "en")
    assert youtube.location == "https://www.youtube.com/watch?v=dW7fT3kQm2A"
    assert "language" not in youtube.metadata  # for YouTube it is the caption priority, not the talk's language
    problems = {problem.line: problem.message for problem in parsed.problems}
    assert sorted(problems) == [3, 4, 5, 6, 9]
    assert "missing 'source'" in problems[3]
    assert "bad date '2026-13-01'" in problems[4]
    assert "bad id 'bad id!'" in problems[5]
    assert problems[6] == "duplicate talk id 'talk-a' (first on line 2)"
    assert "9 fields, but the header has 8" in problems[9]


def test_jsonl_manifest_reports_bad_lines(tmp_path: Path):
    manifest = tmp_path / "conf.jsonl"
    manifest.write_text(
        '{"source": "a.txt", "speakers": ["Ann Lee", "Bob Roe"], "date": "2026-05-14", "track": 2}\n'
        "\n"
        "not json\n"
        "[1, 2]\n"
        '{"source": "b.txt", "speakers": 7}\n'
        '{"source": "dW7fT3kQm2A", "language": ["de", "en"], "translate": "fr"}\n'
        '{"source": "c.txt", "language": "english!"}\n'
    )
    parsed = read_manifest(manifest)
    assert [(row.line, row.talk_id) for row in parsed.rows] == [(1, "a"), (6, "dW7fT3kQm2A")]
    assert parsed.rows[0].metadata["speakers"] == ["Ann Lee", "Bob Roe"]
    assert parsed.rows[0].metadata["track"] == "2"
    assert parsed.rows[1].languages == ("de", "en") and parsed.rows[1].translate == "fr"
    problems = {problem.line: problem.message for problem in parsed.problems}
    assert sorted(problems) == [3, 4, 5, 7]
    assert problems[3].startswith("not JSON")
    assert problems[4] == "not a JSON object"
    assert "'speakers' must be a list" in problems[5]
    assert "bad language code 'english!'" in problems[7]


def test_yaml_manifest_as_list_and_as_mapping_with_defaults(tmp_path: Path):
    listed = tmp_path / "list.yaml"
    listed.write_text(
        "- source: a.txt\n"
        "  speakers: [Ann Lee, Bob Roe]\n"
        "  date: 2026-05-14\n"
        "- source: b.txt\n"
        "  date: 2026-02-30\n"
        "- just a string\n"
        "- id: no-source\n"
    )
    parsed = read_manifest(listed)
    assert [(row.line, row.talk_id) for row in parsed.rows] == [(1, "a")]
    assert parsed.rows[0].metadata["date"] == date(2026, 5, 14)
    problems = {problem.line: problem.message for problem in parsed.problems}
    assert sorted(problems) == [4, 6, 7]
    assert "bad value" in problems[4] and "not a mapping" in problems[6] and "missing 'source'" in problems[7]

    mapping = tmp_path / "conf.yml"
    mapping.write_text(
        "event: Conf 2026\ndate: 2026-05-14\ntalks:\n  - source: a.txt\n  - source: b.txt\n    event: Other\n"
    )
    rows = read_manifest(mapping).rows
    assert [(row.line, row.metadata["event"], row.metadata["date"]) for row in rows] == [
        (4, "Conf 2026", date(2026, 5, 14)),
        (5, "Other", date(2026, 5, 14)),
    ]


def test_unusable_manifests_raise(tmp_path: Path):
    for name, text, message in (
        ("talks.txt", "a.txt\n", "unsupported manifest type"),
        ("nosource.csv", "file,title\na.txt,x\n", "no 'source' column"),
        ("empty.csv", "source,title\n", "no talks in manifest"),
        ("bad.yaml", "talks: [\n", "not valid YAML"),
        ("scalar.yaml", "just text\n", "a list of talks"),
    ):
        (tmp_path / name).write_text(text)
        with pytest.raises(BatchError, match=message):
            read_manifest(tmp_path / name)


# -- runs ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """The bundled manifest, run once with two workers."""
    workspace = Workspace(tmp_path_factory.mktemp("bundled") / "ws")
    return workspace, run_batch(DATA / "manifest.csv", workspace, jobs=2, console=quiet())


def test_bundled_manifest_batch(bundled):
    workspace, report = bundled
    assert report.exit_code == 0, report.outcomes
    assert statuses(report) == dict.fromkeys(
        ["founder-talk", "panel-remote-teams", "lightning-pricing", "fireside-chat"], "done"
    )
    panel = workspace.load_transcript("panel-remote-teams").talk
    assert panel.title == "Panel: Running Remote Engineering Teams"
    assert panel.speakers == ["Tomás Okafor", "Priya Raman", "Jonas Weber"]
    assert (panel.event, panel.date, panel.language) == ("Open Source Founders Summit 2026", date(2026, 5, 14), "en")
    assert panel.extra == {"moderator": "Tomás Okafor"}  # from the sidecar: the manifest adds to it
    state = stored_state(report)
    assert {talk: entry.status for talk, entry in state.talks.items()} == statuses(report)
    founder = state.talks["founder-talk"]
    assert founder.attempts == 1 and founder.chunks == report.outcomes[0].chunks > 0
    assert {"parse", "clean", "chunk", "embed", "write", "total"} <= set(founder.timings)
    assert founder.timings["embed"] > founder.timings["write"]
    assert not list(report.state_path.parent.glob("*.tmp"))


def test_bundled_manifest_recaps(bundled):
    workspace, report = bundled
    assert report.out_dir == workspace.root / "recaps"
    for outcome in report.outcomes:
        recap = TalkRecap.model_validate_json((report.out_dir / f"{outcome.talk_id}.json").read_text())
        assert recap.talk.id == outcome.talk_id
        assert (report.out_dir / f"{outcome.talk_id}.md").read_text().strip()


def test_rerun_skips_done_talks(bundled):
    workspace, first = bundled
    before = {talk: workspace.transcript_path(talk).stat().st_mtime_ns for talk in workspace.talk_ids()}
    report = run_batch(DATA / "manifest.csv", workspace, jobs=2, console=quiet())
    assert set(statuses(report).values()) == {"skipped"} and report.exit_code == 0
    assert {talk: workspace.transcript_path(talk).stat().st_mtime_ns for talk in workspace.talk_ids()} == before
    assert stored_state(report) == stored_state(first)


def test_failed_talk_is_kept_failed_until_retry_failed(tmp_path: Path):
    folder = tmp_path / "conf"
    sources = write_talks(folder, 2)
    (folder / "broken.vtt").write_text("")
    manifest = write_manifest(folder / "manifest.csv", [*sources, "broken.vtt"])
    with manifest.open("a") as file:
        file.write("talk-00.txt,Again,Test Conf\n")  # a duplicate id: a malformed row, the rest runs
    workspace = Workspace(tmp_path / "ws")

    first = run_batch(manifest, workspace, jobs=JOBS, console=quiet())
    assert statuses(first) == {"talk-00": "done", "talk-01": "done", "broken": "failed"}
    assert [problem.line for problem in first.problems] == [5]
    assert first.exit_code == 1
    broken = next(outcome for outcome in first.outcomes if outcome.talk_id == "broken")
    assert broken.stage == "load" and "file is empty" in broken.reason
    assert "--retry-failed" in first.resume

    (folder / "broken.vtt").write_text((DATA / "founder-talk.vtt").read_text()[:1500])
    second = run_batch(manifest, workspace, jobs=JOBS, console=quiet())
    assert statuses(second) == {"talk-00": "skipped", "talk-01": "skipped", "broken": "previously failed"}
    assert second.exit_code == 1 and not workspace.has_talk("broken")

    third = run_batch(manifest, workspace, jobs=JOBS, retry_failed=True, console=quiet())
    assert statuses(third) == {"talk-00": "skipped", "talk-01": "skipped", "broken": "done"}
    entry = stored_state(third).talks["broken"]
    assert (entry.status, entry.attempts, entry.reason) == ("done", 2, None)
    assert workspace.load_transcript("broken").talk.title == "Talk 2"
    output = Console(file=io.StringIO(), width=200)
    print_report(third, output)
    text = output.file.getvalue()
    assert "1 done · 2 skipped (already done) · 0 failed" in text
    assert "duplicate talk id 'talk-00'" in text


def test_changed_row_is_processed_again(tmp_path: Path):
    folder = tmp_path / "conf"
    sources = write_talks(folder, 2)
    manifest = write_manifest(folder / "manifest.csv", sources)
    workspace = Workspace(tmp_path / "ws")
    run_batch(manifest, workspace, jobs=JOBS, console=quiet())
    manifest.write_text(manifest.read_text().replace("Talk 1", "Renamed"))
    report = run_batch(manifest, workspace, jobs=JOBS, console=quiet())
    assert statuses(report) == {"talk-00": "skipped", "talk-01": "done"}
    assert workspace.load_transcript("talk-01").talk.title == "Renamed"


def test_youtube_rows_through_the_fake(tmp_path: Path, fake_youtube: FakeYouTube):  # noqa: F811
    fake_youtube.add("talkVideo01", standard_talk())
    manifest = tmp_path / "conf.jsonl"
    manifest.write_text(
        '{"source": "https://www.youtube.com/watch?v=talkVideo01", "title": "Auf Deutsch", "language": "de"}\n'
        '{"source": "talkVideo01", "id": "english-cut", "speakers": ["Ann Lee"]}\n'
    )
    workspace = Workspace(tmp_path / "ws")
    report = run_batch(
        manifest,
        workspace,
        jobs=JOBS,
        http_client=fake_youtube.session(),
        youtube_options=FAST_RETRIES,
        console=quiet(),
    )
    assert statuses(report) == {"talkVideo01": "done", "english-cut": "done"}, report.outcomes
    german = workspace.load_transcript("talkVideo01")
    assert (german.talk.language, german.talk.title, german.talk.youtube_id) == ("de", "Auf Deutsch", "talkVideo01")
    assert german.talk.source == "https://www.youtube.com/watch?v=talkVideo01"
    assert german.segments[0].text.startswith("[de manual]")  # German: not restored (English model)
    english = workspace.load_transcript("english-cut")
    assert english.segments[0].text.lower().startswith("[en manual]") and english.segments[0].speaker == "Ann Lee"
    assert stored_state(report).talks["talkVideo01"].timings["fetch"] > 0


def test_youtube_block_stops_the_batch_and_a_rerun_resumes(
    tmp_path: Path,
    fake_youtube: FakeYouTube,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
):
    fake_youtube.add("okVideo0001", standard_talk())
    fake_youtube.add("blockedVid1", FakeVideo(watch_page=RECAPTCHA_PAGE))
    fake_youtube.add("laterVideo1", standard_talk())
    folder = tmp_path / "conf"
    write_talks(folder, 1)
    manifest = write_manifest(folder / "conf.csv", ["okVideo0001", "blockedVid1", "talk-00.txt", "laterVideo1"])
    workspace = Workspace(tmp_path / "ws")
    options = {"http_client": fake_youtube.session(), "youtube_options": FAST_RETRIES}

    report = run_batch(manifest, workspace, console=quiet(), **options)
    assert statuses(report) == {
        "okVideo0001": "done",
        "blockedVid1": "pending",
        "talk-00": "pending",
        "laterVideo1": "pending",
    }
    assert fake_youtube.count(video_id="laterVideo1") == 0  # nothing more was asked of YouTube
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "attempt" in r.getMessage()]
    assert [line.split(" failed")[0] for line in retries] == ["talk blockedVid1 (youtube:blockedVid1): attempt 1 of 2"]
    assert "blocking requests" in report.stopped and report.exit_code == 1
    assert f"resume with: talks batch {manifest}" in report.resume and "--proxy URL" in report.resume
    state = stored_state(report).talks
    assert (state["blockedVid1"].status, state["blockedVid1"].attempts, state["blockedVid1"].retryable) == (
        "pending",
        1,
        True,
    )
    assert {state[talk].status for talk in ("talk-00", "laterVideo1")} == {"pending"}
    output = Console(file=io.StringIO(), width=200)
    print_report(report, output)
    assert "stopped early" in output.file.getvalue() and "resume with" in output.file.getvalue()

    fake_youtube.add("blockedVid1", standard_talk())
    resumed = run_batch(manifest, workspace, console=quiet(), **options)
    assert statuses(resumed) == {
        "okVideo0001": "skipped",
        "blockedVid1": "done",
        "talk-00": "done",
        "laterVideo1": "done",
    }
    assert resumed.exit_code == 0 and resumed.resume is None
    assert stored_state(resumed).talks["blockedVid1"].attempts == 2


def test_two_jobs_store_the_same_as_one(tmp_path: Path):
    folder = tmp_path / "conf"
    manifest = write_manifest(folder / "manifest.csv", write_talks(folder, 4))
    results = []
    for jobs in (1, 2):
        workspace = Workspace(tmp_path / f"ws{jobs}")
        report = run_batch(manifest, workspace, jobs=jobs, console=quiet())
        assert set(statuses(report).values()) == {"done"}
        transcripts = {talk: workspace.transcript_path(talk).read_text() for talk in workspace.talk_ids()}
        with open_store(StoreConfig(), workspace.root) as index:  # the default store
            documents = {talk: index.documents(talk) for talk in index.talk_ids()}
        state = {talk: (e.status, e.chunks, e.row_hash) for talk, e in stored_state(report).talks.items()}
        results.append((transcripts, documents, state))
    (one_t, one_d, one_s), (two_t, two_d, two_s) = results
    assert one_t == two_t and one_s == two_s and len(one_t) == 4
    for talk, documents in one_d.items():
        others = two_d[talk]
        assert [(d.id, d.content, d.meta) for d in documents] == [(d.id, d.content, d.meta) for d in others]
        assert np.allclose([d.embedding for d in documents], [d.embedding for d in others], atol=1e-5)


def test_chunks_go_to_the_chosen_store(tmp_path: Path):
    """The local engine writes to the configured store; a talk done in one store is not done in another."""
    folder = tmp_path / "conf"
    manifest = write_manifest(folder / "manifest.csv", write_talks(folder, 2))
    workspace = Workspace(tmp_path / "ws")
    qdrant = StoreConfig(kind="qdrant")  # a local folder, WORKSPACE/qdrant
    first = run_batch(manifest, workspace, jobs=JOBS, store=qdrant, console=quiet())
    assert set(statuses(first).values()) == {"done"}
    with open_store(qdrant, workspace.root) as store:
        assert store.talk_ids() == ["talk-00", "talk-01"]
        assert store.header("talk-01")["chunks"] == stored_state(first).talks["talk-01"].chunks
    with open_store(StoreConfig(), workspace.root) as default:
        assert default.talk_ids() == []
    assert set(statuses(run_batch(manifest, workspace, store=qdrant, console=quiet())).values()) == {"skipped"}

    memory = run_batch(manifest, workspace, jobs=JOBS, console=quiet())
    assert set(statuses(memory).values()) == {"done"}  # not in the memory store yet: processed again
    with open_store(StoreConfig(), workspace.root) as default:
        assert default.talk_ids() == ["talk-00", "talk-01"]
    assert all(entry.attempts == 2 for entry in stored_state(memory).talks.values())


def start_batch(manifest: Path, root: Path) -> subprocess.Popen[bytes]:
    """`python -m pipeline.batch` in a subprocess that takes Ctrl-C (SIGINT) as an interactive run would."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.batch", str(manifest), "--workspace", str(root), "--jobs", str(JOBS)],
        env=talks_env(root),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_done(workspace: Workspace, process: subprocess.Popen[bytes], count: int) -> Path:
    """The state file, once it records `count` talks as done (while the process still runs)."""
    deadline = time.monotonic() + 300  # generous: a loaded 2-core machine starts Ray workers slowly
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
        for path in workspace.batch_dir.glob("*.json") if workspace.batch_dir.exists() else []:
            talks = json.loads(path.read_text())["talks"]
            if sum(entry["status"] == "done" for entry in talks.values()) >= count:
                return path
    if process.poll() is None:
        process.kill()
        raise AssertionError(f"fewer than {count} talks done after 300 s")
    stderr = process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""
    raise AssertionError(f"the batch ended (exit {process.returncode}) before it could be stopped:\n{stderr}")


def test_a_killed_batch_resumes_without_redoing_done_talks(tmp_path: Path):
    folder = tmp_path / "conf"
    manifest = write_manifest(folder / "manifest.csv", write_talks(folder, 24))
    workspace = Workspace(tmp_path / "ws")
    process = start_batch(manifest, workspace.root)
    state_file = wait_for_done(workspace, process, 3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    state = BatchState.model_validate_json(state_file.read_bytes())  # valid JSON after the kill
    done = {talk for talk, entry in state.talks.items() if entry.status == "done"}
    assert len(state.talks) == 24 and 3 <= len(done) < 24
    before = {talk: workspace.transcript_path(talk).stat().st_mtime_ns for talk in done}

    report = run_batch(manifest, workspace, jobs=JOBS, console=quiet())
    assert {o.talk_id for o in report.outcomes if o.status == "skipped"} == done
    assert {o.talk_id for o in report.outcomes if o.status == "done"} == set(state.talks) - done
    assert {talk: workspace.transcript_path(talk).stat().st_mtime_ns for talk in done} == before
    assert {entry.status for entry in stored_state(report).talks.values()} == {"done"}
    assert all(entry.attempts == 1 for entry in stored_state(report).talks.values())
    assert Transcript.model_validate_json(workspace.transcript_path("talk-23").read_text()).talk.title == "Talk 23"


def test_ctrl_c_finishes_the_talks_in_progress_and_records_them(tmp_path: Path):
    folder = tmp_path / "conf"
    manifest = write_manifest(folder / "manifest.csv", write_talks(folder, 24))
    workspace = Workspace(tmp_path / "ws")
    process = start_batch(manifest, workspace.root)
    state_file = wait_for_done(workspace, process, 2)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    state = BatchState.model_validate_json(state_file.read_bytes())
    done = {talk for talk, entry in state.talks.items() if entry.status == "done"}
    assert set(workspace.talk_ids()) == done  # every talk written is recorded: nothing in flight was lost
    assert {entry.status for entry in state.talks.values()} == {"done", "pending"}
    assert not list(workspace.root.rglob("*.tmp"))


def test_state_updates_from_two_writers_merge(tmp_path: Path):
    workspace = Workspace(tmp_path / "ws").create()
    manifest = tmp_path / "conf.csv"
    writers = [StateFile(workspace, manifest), StateFile(workspace, manifest)]  # two locks on one file

    def write(number: int) -> None:
        entry = TalkState(row_hash="h", line=number, source=f"{number}.txt", status="done")
        writers[number % 2].update({f"talk-{number}": entry})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(60)))
    assert sorted(writers[0].load().talks) == sorted(f"talk-{number}" for number in range(60))
    assert not list(workspace.batch_dir.glob("*.tmp"))
