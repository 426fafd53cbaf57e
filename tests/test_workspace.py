"""The workspace never loses or corrupts what is stored: atomic writes, locks, two processes, a kill (on the default
SQLite store)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pipeline.sources.files import load_file
from pipeline.stores import StoreConfig, index_status, open_store
from pipeline.workspace import Workspace, atomic_write
from tests.conftest import DATA
from tests.helpers import start_talks, talks


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch):
    target = tmp_path / "file.json"
    atomic_write(target, b"old")

    def disk_full(descriptor: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


def test_reingest_replaces_without_duplicates(tmp_path: Path, ingestor_factory):
    ingestor = ingestor_factory(tmp_path)
    transcript = load_file(DATA / "panel-remote-teams.srt")
    first = ingestor.ingest(transcript)
    second = ingestor.ingest(transcript)
    assert second.replaced and not first.replaced
    with open_store(StoreConfig(), ingestor.workspace.root) as store:
        assert store.count_chunks() == first.chunks == second.chunks
    renamed = transcript.model_copy(update={"talk": transcript.talk.model_copy(update={"title": "New title"})})
    ingestor.ingest(renamed)
    with open_store(StoreConfig(), ingestor.workspace.root) as store:
        documents = store.documents("panel-remote-teams")
    assert {doc.meta["title"] for doc in documents} == {"New title"}


def test_ingest_many_embeds_talks_together_and_writes_each_like_ingest(tmp_path: Path, ingestor_factory):
    talks_ = [load_file(DATA / name) for name in ("panel-remote-teams.srt", "fireside-chat.txt", "founder-talk.vtt")]
    single = ingestor_factory(tmp_path / "single")
    expected = {t.talk.id: single.ingest(t).chunks for t in talks_}
    many = ingestor_factory(tmp_path / "many")
    broken = talks_[1].model_copy(update={"talk": None})  # fails before chunking; the others still go in
    given = [talks_[0], broken, talks_[1], talks_[2], talks_[0]]
    outcomes = list(many.ingest_many(given, group_chunks=20))
    assert all(o.transcript is t for o, t in zip(outcomes, given, strict=True))
    assert outcomes[1].error is not None and outcomes[1].result is None
    assert "already used" in str(outcomes[4].error)  # a second input with one id in a run is refused
    done = [o.result for o in outcomes if o.result]
    assert [(r.talk_id, r.chunks, r.replaced) for r in done] == [
        ("panel-remote-teams", expected["panel-remote-teams"], False),
        ("fireside-chat", expected["fireside-chat"], False),
        ("founder-talk", expected["founder-talk"], False),
    ]
    a, b = open_store(StoreConfig(), single.workspace.root), open_store(StoreConfig(), many.workspace.root)
    assert a.talk_ids() == b.talk_ids()
    for talk_id in a.talk_ids():
        assert a.header(talk_id)["fingerprint"] == b.header(talk_id)["fingerprint"]
        left, right = a.documents(talk_id), b.documents(talk_id)
        assert [(d.id, d.content, d.meta) for d in left] == [(d.id, d.content, d.meta) for d in right]
        for x, y in zip(left, right, strict=True):  # the same vectors, whatever the batch a chunk was padded in
            assert max(abs(p - q) for p, q in zip(x.embedding, y.embedding, strict=True)) < 1e-4
    assert {t.talk.id for t in many.workspace.transcripts()} == set(expected)


def test_two_ingest_processes_at_once(tmp_path: Path):
    workspace = tmp_path / "ws"
    a = start_talks(workspace, "ingest", str(DATA / "founder-talk.vtt"), str(DATA / "panel-remote-teams.srt"))
    b = start_talks(workspace, "ingest", str(DATA / "founder-talk.vtt"), str(DATA / "lightning-pricing.json"))
    assert a.wait(timeout=300) == 0, a.stderr.read()
    assert b.wait(timeout=300) == 0, b.stderr.read()
    space = Workspace(workspace)
    assert space.talk_ids() == ["founder-talk", "lightning-pricing", "panel-remote-teams"]
    with open_store(StoreConfig(), workspace) as index:
        assert index.kind == "sqlite"
        assert all(index_status(index, t) == "indexed" for t in space.transcripts())
        ids = [doc.id for talk_id in index.talk_ids() for doc in index.documents(talk_id)]
        assert len(ids) == len(set(ids)) == index.count_chunks()
        assert sum(index.header(talk_id)["chunks"] for talk_id in index.talk_ids()) == len(ids)
    assert not list(workspace.rglob("*.tmp"))


def _stored_talks(workspace: Path, prefix: str) -> int:
    """Talks committed to the workspace's SQLite file so far, read as another process would (0 before it exists)."""
    import apsw

    path = workspace / "talks.db"
    if not path.exists():
        return 0
    try:
        connection = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            query = "SELECT count(*) FROM talks WHERE talk_id LIKE ?"
            return int(connection.execute(query, (prefix + "%",)).fetchone()[0])
        finally:
            connection.close()
    except apsw.Error:  # the schema is being created
        return 0


def test_a_killed_ingest_loses_nothing(tmp_path: Path):
    workspace = tmp_path / "ws"
    assert talks(workspace, "ingest", str(DATA / "panel-remote-teams.srt")).returncode == 0
    before = (workspace / "transcripts" / "panel-remote-teams.json").read_bytes()
    batch = tmp_path / "batch"
    batch.mkdir()
    text = (DATA / "fireside-chat.txt").read_text()
    copies = 40  # more than one embedding group of `ingest_many`, so the kill lands between writes
    for number in range(copies):
        (batch / f"chat-{number:02d}.txt").write_text(text)
    process = start_talks(workspace, "ingest", str(batch), str(DATA / "panel-remote-teams.srt"))
    deadline = time.monotonic() + 240
    while _stored_talks(workspace, "chat-") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    space = Workspace(workspace)
    with open_store(StoreConfig(), workspace) as index:
        assert index.kind == "sqlite"
        statuses = {t.talk.id: index_status(index, t) for t in space.transcripts()}  # every file parses
        assert 3 <= len(statuses) < copies + 2
        assert set(statuses.values()) <= {"indexed", "stale", "not indexed"}
        for talk_id in index.talk_ids():  # each stored talk is whole: as many chunks as its header says
            assert len(index.documents(talk_id)) == index.header(talk_id)["chunks"] > 0
        integrity = index._connection().execute("PRAGMA integrity_check").fetchall()
        assert integrity == [("ok",)]
    assert (workspace / "transcripts" / "panel-remote-teams.json").read_bytes() == before
    assert talks(workspace, "reindex").returncode == 0
    with open_store(StoreConfig(), workspace) as index:
        assert {index_status(index, t) for t in space.transcripts()} == {"indexed"}
