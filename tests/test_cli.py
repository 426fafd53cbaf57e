"""End to end through the real `talks` command: ingest, ask, list, show, remove, with bad input alongside."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.models import Answer, IngestReport, MigrationReport, RemovedTalk, Transcript
from pipeline.stores import StoreConfig, open_store
from tests.conftest import DATA, FIXTURES
from tests.helpers import talks


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli") / "ws"


@pytest.fixture(scope="module")
def ingest_run(workspace: Path, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad")
    (bad / "empty.vtt").write_bytes(b"")
    (bad / "binary.srt").write_bytes(b"\x00\x01\x02")
    (bad / "notes.pdf").write_bytes(b"%PDF-1.7")
    (bad / "latin1.txt").write_bytes("Ada: caf\xe9".encode("latin-1"))
    sources = [
        str(DATA),
        str(bad / "empty.vtt"),
        str(bad / "binary.srt"),
        str(bad / "notes.pdf"),
        str(bad / "latin1.txt"),
        str(FIXTURES / "malformed.vtt"),
        str(bad / "missing.vtt"),
    ]
    return talks(workspace, "ingest", *sources)


def test_bad_files_are_reported_and_the_rest_ingests(ingest_run):
    assert ingest_run.returncode == 1
    assert "Traceback" not in ingest_run.stderr + ingest_run.stdout
    output = ingest_run.stdout + ingest_run.stderr
    for expected in (
        "empty.vtt: file is empty",
        "binary.srt: binary file, not a text transcript",
        "notes.pdf: unsupported file type '.pdf'",
        "latin1.txt: not UTF-8 text",
        "malformed.vtt: malformed WebVTT",
        "missing.vtt: no such file or directory",
    ):
        assert expected in output
    assert "5 ingested, 6 failed" in ingest_run.stdout


def test_ask_json_cites_timestamped_passages(workspace: Path, ingest_run):
    result = talks(workspace, "ask", "Why did they keep the Apache license?", "--json", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    answer = Answer.model_validate_json(result.stdout)
    assert answer.question == "Why did they keep the Apache license?"
    assert len(answer.passages) == 3
    top = answer.passages[0]
    assert top.talk_id == "founder-talk"
    assert "Apache" in top.text or "license" in top.text.lower()
    assert top.url == f"https://www.youtube.com/watch?v=dW7fT3kQm2A&t={int(top.start)}s"
    transcript = Transcript.model_validate_json((workspace / "transcripts" / "founder-talk.json").read_text())
    segment, last = transcript.segments[top.first_segment], top.last_segment
    # a grown passage cut back at another passage starts where that one ends (or ends where it starts)
    assert top.start in (segment.start, transcript.segments[top.first_segment - 1].end)
    assert top.end in (
        transcript.segments[last].end,
        transcript.segments[min(last + 1, len(transcript.segments) - 1)].start,
    )
    assert segment.text in top.text
    assert top.highlights and all(sentence in top.text for sentence in top.highlights)


def test_ask_filters_and_human_output(workspace: Path, ingest_run):
    result = talks(workspace, "ask", "how do you hire juniors remotely", "--speaker", "priya", "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert "Panel: Running Remote Engineering Teams" in result.stdout
    assert "Priya Raman" in result.stdout
    unknown = talks(workspace, "ask", "anything", "--event", "No Such Conf")
    assert unknown.returncode == 1
    assert "no event 'No Such Conf'" in unknown.stderr and "Traceback" not in unknown.stderr


def test_ask_many_questions_from_jsonl(workspace: Path, ingest_run, tmp_path: Path):
    questions = tmp_path / "faq.jsonl"
    questions.write_text(
        '{"question": "What did they charge at first?", "talk": "founder-talk"}\n'
        '{"question": "How should free tiers work?", "event": "Open Source Founders Summit 2026"}\n'
        "not json\n"
    )
    result = talks(workspace, "ask", "--questions", str(questions), "--json", "--top-k", "2")
    assert result.returncode == 1
    answers = [Answer.model_validate_json(line) for line in result.stdout.splitlines()]
    assert [a.error is None for a in answers] == [True, True, False]
    assert {p.talk_id for p in answers[0].passages} == {"founder-talk"}
    assert "faq.jsonl:3" in answers[2].error


def test_list_show_remove(workspace: Path, ingest_run):
    listed = talks(workspace, "list", "--json")
    assert [info["talk"]["id"] for info in json.loads(listed.stdout)] == [
        "docs-that-get-read",
        "fireside-chat",
        "founder-talk",
        "lightning-pricing",
        "panel-remote-teams",
    ]
    shown = talks(workspace, "show", "fireside-chat")
    assert "Lena Park:" in shown.stdout and "00:00:" in shown.stdout
    assert talks(workspace, "remove", "fireside-chat").returncode == 0
    with open_store(StoreConfig(), workspace) as store:  # the default store
        assert store.header("fireside-chat") is None and "fireside-chat" not in store.talk_ids()
    missing = talks(workspace, "show", "fireside-chat")
    assert missing.returncode == 1 and "no talk 'fireside-chat'" in missing.stderr


def test_recap_and_themes_commands(workspace: Path, ingest_run, tmp_path: Path):
    draft = tmp_path / "recap.md"
    result = talks(workspace, "recap", "founder-talk", "--out", str(draft))
    assert result.returncode == 0, result.stderr
    markdown = draft.read_text()
    assert markdown.startswith("---\ntitle: 'From Side Project to Company: ")  # YAML front matter (quoted), then
    assert "\n---\n\n# From Side Project to Company: " in markdown  # the draft
    assert markdown.count("\n## ") >= 3
    assert "https://www.youtube.com/watch?v=dW7fT3kQm2A&t=" in markdown
    themes = talks(workspace, "themes", "panel-remote-teams", "--json")
    assert themes.returncode == 0, themes.stderr
    parsed = json.loads(themes.stdout)
    assert parsed and all(theme["title"] and theme["spans"] for theme in parsed)
    neither = talks(workspace, "recap")
    assert neither.returncode == 1 and "give either a TALK id or --event NAME" in neither.stderr
    chapters = talks(workspace, "recap", "founder-talk", "--format", "chapters")
    assert chapters.returncode == 0, chapters.stderr
    lines = chapters.stdout.splitlines()
    assert lines[0].startswith("00:00 ") and len(lines) >= 3
    assert all(re.fullmatch(r"\d\d:\d\d \S.*", line) for line in lines)
    unknown = talks(workspace, "recap", "founder-talk", "--format", "pdf")
    assert unknown.returncode != 0 and "pdf" in unknown.stderr and "vtt-chapters" in unknown.stderr
    event = talks(workspace, "recap", "--event", "Open Source Founders Summit 2026", "--format", "vtt-chapters")
    assert event.returncode == 1 and "chapters are made for one talk" in event.stderr


def test_version_choices_and_help_texts(tmp_path: Path):
    from importlib.metadata import version

    assert talks(tmp_path, "--version").stdout.strip() == f"talks {version('talks')}"
    for args, option in (
        (("ask", "x", "--store", "nosuch"), "--store"),
        (("ask", "x", "--generator", "gpt"), "--generator"),
        (("recap", "x", "--format", "pdf"), "--format"),
        (("batch", "m.csv", "--engine", "spark"), "--engine"),
        (("pipeline", "nosuch"), "name"),
    ):
        result = talks(tmp_path, *args)
        assert result.returncode == 2 and f"Invalid value for '{option}'" in result.stderr, args
        assert "Traceback" not in result.stderr
    assert "citing [n] passages" in talks(tmp_path, "ask", "--help").stdout
    ingest_help = talks(tmp_path, "ingest", "--help").stdout
    assert ingest_help.count("TALKS_PROXY") == 1


def test_json_reports_of_remove_reindex_and_migrate(workspace: Path, ingest_run, tmp_path: Path):
    reindexed = talks(workspace, "reindex", "founder-talk", "--json")
    assert reindexed.returncode == 0, reindexed.stderr
    report = IngestReport.model_validate_json(reindexed.stdout)
    assert [t.talk_id for t in report.talks] == ["founder-talk"] and not report.failures
    copied = talks(workspace, "migrate", "--to", "sqlite", "--to-path", str(tmp_path / "copy.db"), "--json")
    assert copied.returncode == 0, copied.stderr
    migration = MigrationReport.model_validate_json(copied.stdout)
    assert migration.verified and migration.source_chunks == migration.target_chunks > 0
    removed = talks(workspace, "remove", "lightning-pricing", "--json")
    assert RemovedTalk.model_validate_json(removed.stdout).talk_id == "lightning-pricing"


def test_talk_ids_complete_in_the_shell(workspace: Path, ingest_run):
    """Bash completion of a talk id argument lists the workspace's talks starting with what was typed."""
    import subprocess
    import sys

    from pipeline.workspace import Workspace
    from tests.helpers import talks_env

    script = Path(sys.executable).parent / "talks"  # the console script: completion keys on its name
    env = talks_env(workspace, {"_TALKS_COMPLETE": "complete_bash", "COMP_WORDS": "talks show f", "COMP_CWORD": "2"})
    result = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=120, check=False)
    expected = [talk_id for talk_id in Workspace(workspace).talk_ids() if talk_id.startswith("f")]
    assert expected and result.stdout.split() == expected, result.stderr  # another test may have removed one
