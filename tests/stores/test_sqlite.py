"""The SQLite store on its own: whole-talk transactions, filters, keyword ranking (Haystack's BM25L), threads, two
writing processes, a damaged file, a database of the previous schema, and a workspace made with the older memory
store (kept working, then migrated)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from pathlib import Path

import apsw
import numpy as np
import pytest
from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore

from pipeline.embedding import SentenceEmbedder
from pipeline.models import Answer
from pipeline.stores import StoreConfig, StoreError, open_store
from pipeline.stores import sqlite as sqlite_store
from pipeline.stores.sqlite import SqliteChunkStore, filters_to_sql
from pipeline.text import split_sentences
from tests.conftest import DATA
from tests.helpers import talks
from tests.test_faults import without_dac_override

TEXTS = [
    "We kept the Apache license because changing licenses breaks trust with contributors.",
    "Pricing developer tools per seat punishes the teams that adopt them the most.",
    "Remote teams stay aligned by writing decisions down where everyone can find them.",
    "The hosted version paid our salaries while the open source project grew.",
]


def make_talk(talk_id: str, count: int = 4, event: str = "Conf A", speaker: str = "Ada", seed: int = 0):
    rng = np.random.default_rng(seed)
    documents = []
    for index in range(count):
        vector = rng.standard_normal(384).astype(np.float32)
        documents.append(
            Document(
                id=f"{talk_id}:{index}",
                content=f"{TEXTS[index % len(TEXTS)]} ({talk_id} part {index})",
                embedding=(vector / np.linalg.norm(vector)).tolist(),
                meta={
                    "talk_id": talk_id,
                    "title": talk_id,
                    "event": event,
                    "speaker": speaker,
                    "speakers": [speaker],
                    "first_segment": index * 3,
                    "last_segment": index * 3 + 2,
                    "start": index * 30.0,
                },
            )
        )
    return documents


@pytest.fixture
def store(tmp_path: Path):
    with SqliteChunkStore(tmp_path / "talks.db") as opened:
        opened.replace_talk("alpha", make_talk("alpha", event="Conf A", speaker="Ada Lovelace"), "fp-a", {"w": 1})
        opened.replace_talk("beta", make_talk("beta", event="Conf B", speaker="Grace Hopper", seed=1), "fp-b", {})
        yield opened


def test_headers_documents_and_facets(store: SqliteChunkStore):
    assert store.talk_ids() == ["alpha", "beta"]
    header = {"talk_id": "alpha", "fingerprint": "fp-a", "settings": {"w": 1}, "chunks": 4, "sentence_kind": None}
    assert store.header("alpha") == header
    assert store.header("gamma") is None
    documents = store.documents("alpha")
    assert [doc.id for doc in documents] == [f"alpha:{i}" for i in range(4)]
    expected = make_talk("alpha")[2].embedding
    assert np.allclose(documents[2].embedding, expected, atol=1e-6)
    facets = store.facets()
    assert facets.events == ["Conf A", "Conf B"] and facets.speakers == ["Ada Lovelace", "Grace Hopper"]
    assert store.count_chunks() == 8


def test_a_failed_replace_leaves_the_old_talk(store: SqliteChunkStore):
    before = [(doc.id, doc.content) for doc in store.documents("alpha")]
    clashing = make_talk("alpha", count=3, seed=5)
    clashing[2] = dataclasses.replace(clashing[2], id="beta:0")  # another talk's chunk: the insert fails halfway
    with pytest.raises(StoreError, match="beta:0 is already used"):
        store.replace_talk("alpha", clashing, "fp-new", {})
    assert [(doc.id, doc.content) for doc in store.documents("alpha")] == before
    assert store.header("alpha")["fingerprint"] == "fp-a"
    wrong_owner = make_talk("gamma")
    with pytest.raises(StoreError, match="belongs to talk 'gamma'"):
        store.replace_talk("alpha", wrong_owner, "fp", {})


def test_replace_and_remove_leave_no_orphans(store: SqliteChunkStore):
    store.replace_talk("alpha", make_talk("alpha", count=2, seed=9), "fp-2", {})
    assert store.header("alpha")["chunks"] == 2 and store.count_chunks() == 6
    store.remove_talk("beta")
    db = store._connection()
    assert db.execute("SELECT count(*) FROM chunks_vec").fetchone()[0] == 2
    keyword = store.keyword_search("salaries hosted", None, 10)
    assert {doc.meta["talk_id"] for doc in keyword} == set()  # beta's chunks left the text index too
    assert store.talk_ids() == ["alpha"]


def haystack_bm25(store: SqliteChunkStore, query: str, filters=None, top_k: int = 20) -> list[Document]:
    """What the memory store's retriever (Haystack's in-memory BM25L) answers over the same chunks."""
    memory = InMemoryDocumentStore(embedding_similarity_function="cosine", shared=False)
    for talk_id in store.talk_ids():
        memory.write_documents(store.documents(talk_id))
    return memory.bm25_retrieval(query, filters=filters, top_k=top_k)


def assert_same_ranking(found: list[Document], expected: list[Document]) -> None:
    """Same chunks with the same scores, best first (equal scores in either order: the test talks repeat texts)."""
    assert found and len(found) == len(expected)

    def ordered(documents: list[Document]) -> list[tuple[float, str]]:
        return sorted((-round(doc.score, 9), doc.id) for doc in documents)

    assert ordered(found) == ordered(expected)
    assert [doc.score for doc in found] == pytest.approx([doc.score for doc in expected], rel=1e-9)


QUESTIONS = ["Why did they keep the Apache licenses?", "How do remote teams stay aligned?", "salaries for teams"]


def test_keyword_search_ranks_like_haystacks_bm25l(store: SqliteChunkStore, monkeypatch):
    """Same chunks, same scores, same order as Haystack's in-memory BM25L (the memory store), also after a talk is
    replaced and another removed (the statistics follow the writes); any word matches, none is stemmed."""
    store.replace_talk("gamma", make_talk("gamma", count=3, event="Conf B", seed=3), "fp-c", {})
    beta = {"field": "meta.talk_id", "operator": "==", "value": "beta"}
    for _ in range(2):
        for question in QUESTIONS:
            for filters in (None, beta):
                assert_same_ranking(
                    store.keyword_search(question, filters, 20), haystack_bm25(store, question, filters)
                )
        store.replace_talk("alpha", make_talk("alpha", count=2, seed=9), "fp-2", {})
        store.remove_talk("gamma")
    assert not store.keyword_search("licensing", None, 10)  # no stemming, as in Haystack
    assert store.keyword_search("zebra licenses", None, 10)  # one unknown word does not empty the match
    assert store.keyword_search("?!", None, 10) == []
    assert store.keyword_search('"quoted" OR NOT (weird)', None, 10) == []  # operators are plain words
    # a large archive: FTS5's best chunks for the less common words are rescored, with the same result here
    monkeypatch.setattr(sqlite_store, "EXACT_CHUNKS", 0)
    for filters in (None, beta):
        found = store.keyword_search("hosted salaries", filters, 20)
        assert_same_ranking(found, haystack_bm25(store, "hosted salaries", filters))


def as_schema_1(path: Path) -> None:
    """Turns a database into what schema 1 wrote: a Porter-stemmed text index ranked by FTS5's `bm25()`."""
    db = apsw.Connection(str(path))
    db.execute("DROP TABLE chunks_terms; DROP TABLE chunks_fts")
    db.execute(
        "CREATE VIRTUAL TABLE chunks_fts USING fts5(content, content='', contentless_delete=1,"
        " tokenize='porter unicode61 remove_diacritics 2');"
        "CREATE VIRTUAL TABLE chunks_terms USING fts5vocab(chunks_fts, 'row');"
        "INSERT INTO chunks_fts (rowid, content) SELECT rowid, content FROM chunks; PRAGMA user_version = 1"
    )
    db.close()


def test_a_schema_1_database_is_read_as_it_is_when_read_only_and_upgraded_when_writable(tmp_path: Path):
    folder = tmp_path / "ws"
    folder.mkdir()
    path = folder / "talks.db"
    with SqliteChunkStore(path) as store:
        store.replace_talk("alpha", make_talk("alpha"), "fp-a", {})
        store.replace_talk("beta", make_talk("beta", seed=1), "fp-b", {})
    as_schema_1(path)
    for item in (path, folder):
        item.chmod(item.stat().st_mode & ~0o222)
    try:
        with without_dac_override(), SqliteChunkStore(path) as store:
            found = store.keyword_search("Why did they keep their licensing?", None, 10)  # Porter: licens*
            assert found and all("license" in doc.content.lower() for doc in found)
            assert store.embedding_search(store.documents("beta")[0].embedding, None, 1)[0].id == "beta:0"
            assert store._connection().execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        for item in (path, folder):
            item.chmod(item.stat().st_mode | 0o200)
    with SqliteChunkStore(path) as store:  # writable: the text index is rebuilt once, in place
        assert store._connection().execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION
        assert store.count_chunks() == 8 and store.talk_ids() == ["alpha", "beta"]
        for question in QUESTIONS:
            assert_same_ranking(store.keyword_search(question, None, 20), haystack_bm25(store, question))


def sentence_rows(documents: list[Document], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((len(split_sentences(doc.content)), 384)).astype(np.float32) for doc in documents]


def test_the_kind_of_sentence_embeddings_is_recorded_and_must_be_given(store: SqliteChunkStore):
    documents = make_talk("gamma")
    with pytest.raises(StoreError, match="kind None"):
        store.replace_talk("gamma", documents, "fp-g", {}, sentence_vectors=sentence_rows(documents))
    for kind in ("pooled", "own"):
        rows = sentence_rows(documents)
        store.replace_talk("gamma", documents, "fp-g", {}, sentence_vectors=rows, sentence_kind=kind)
        assert store.header("gamma")["sentence_kind"] == kind
        texts = [text for text, _ in store.talk_sentence_vectors("gamma")]
        assert texts == [doc.content for doc in documents]
    store.replace_talk("gamma", documents, "fp-g", {})  # no sentence embeddings: no kind
    assert store.header("gamma")["sentence_kind"] is None and store.talk_sentence_vectors("gamma") == []


@pytest.mark.parametrize(("encoder", "kind"), [("torch", "pooled"), ("onnx", "own"), ("onnx-int8", "own")])
def test_the_indexing_pipeline_writes_the_kind_its_sentence_embedder_gives(tmp_path, monkeypatch, encoder, kind):
    """With torch, ingest pools the sentences from the chunk pass; with ONNX it embeds each on its own."""
    from pipeline.pipelines import build_indexing_pipeline

    monkeypatch.setenv("TALKS_INGEST_ENCODER", encoder)
    writer = build_indexing_pipeline(str(tmp_path), store=StoreConfig(kind="sqlite")).get_component("writer")
    assert writer.sentence_kind == kind == SentenceEmbedder.kind()


def as_schema_2(path: Path) -> None:
    """Turns a database into what schema 2 wrote: no record of the kind of sentence embeddings."""
    db = apsw.Connection(str(path))
    db.execute("ALTER TABLE talks DROP COLUMN sentence_kind; PRAGMA user_version = 2")
    db.close()


def test_a_schema_2_database_records_its_sentence_embeddings_as_pooled(tmp_path: Path):
    """Schema 2 stored the sentences' own embeddings or (since the one-pass ingest) pooled ones, without saying
    which: they are read as pooled, so that a recap embeds the sentences itself whichever they are."""
    folder = tmp_path / "ws"
    folder.mkdir()
    path = folder / "talks.db"
    with SqliteChunkStore(path) as store:
        store.replace_talk("alpha", make_talk("alpha"), "fp-a", {})
        beta = make_talk("beta", seed=1)
        store.replace_talk("beta", beta, "fp-b", {}, sentence_vectors=sentence_rows(beta), sentence_kind="own")
    as_schema_2(path)
    for item in (path, folder):
        item.chmod(item.stat().st_mode & ~0o222)
    try:  # read-only: read as it is
        with without_dac_override(), SqliteChunkStore(path) as store:
            assert [store.header(talk)["sentence_kind"] for talk in ("alpha", "beta")] == [None, "pooled"]
            assert store._connection().execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        for item in (path, folder):
            item.chmod(item.stat().st_mode | 0o200)
    with SqliteChunkStore(path) as store:  # writable: upgraded in place
        assert store._connection().execute("PRAGMA user_version").fetchone()[0] == sqlite_store.SCHEMA_VERSION
        assert [store.header(talk)["sentence_kind"] for talk in ("alpha", "beta")] == [None, "pooled"]


def test_embedding_search_is_exact_cosine(store: SqliteChunkStore):
    target = store.documents("beta")[1]
    found = store.embedding_search(target.embedding, None, 3)
    assert found[0].id == target.id and found[0].score == pytest.approx(1.0, abs=1e-5)
    everything = [doc for talk in ("alpha", "beta") for doc in store.documents(talk)]
    cosine = sorted(everything, key=lambda doc: -float(np.dot(doc.embedding, target.embedding)))
    assert [doc.id for doc in store.embedding_search(target.embedding, None, 8)] == [doc.id for doc in cosine]
    with pytest.raises(StoreError, match="dimension mismatch"):
        store.embedding_search([0.1] * 10, None, 3)


def test_embedding_search_from_memory_matches_the_scan_and_follows_writes(store: SqliteChunkStore):
    """The first unfiltered question scans `vec0`; from the second the store answers from the matrix in memory, with
    the same chunks and scores, and reads it again after a write."""
    vector = store.documents("alpha")[2].embedding
    scanned = store.embedding_search(vector, None, 8)
    assert store._vectors is None
    from_memory = store.embedding_search(vector, None, 8)
    assert store._vectors is not None
    assert [doc.id for doc in from_memory] == [doc.id for doc in scanned]
    assert [doc.score for doc in from_memory] == pytest.approx([doc.score for doc in scanned], abs=1e-6)
    store.replace_talk("beta", make_talk("beta", count=2, seed=5), "fp-b2", {})
    after = [store.embedding_search(vector, None, 8) for _ in range(2)]  # the matrix brought up to date at once
    assert [doc.id for doc in after[0]] == [doc.id for doc in after[1]]
    assert len(after[1]) == 6 and {"beta:2", "beta:3"}.isdisjoint(doc.id for doc in after[1])
    assert len(store._vectors.live()[0]) == 6


def test_matrix_in_memory_follows_another_writer_by_the_talks_written(store: SqliteChunkStore, monkeypatch):
    """After writes by another connection (as by another process), the matrix drops the rows of rewritten and removed
    talks and reads only the new ones: it equals a whole read, and questions get what a fresh store's scan gives.
    (A tiny store: the slack allowed before a whole read is raised, so that every step is an update.)"""
    monkeypatch.setattr(sqlite_store, "MATRIX_SLACK", 10.0)
    whole_read = sqlite_store._stored_vectors
    vector = store.documents("alpha")[1].embedding
    store.embedding_search(vector, None, 8)
    store.embedding_search(vector, None, 8)
    assert store._vectors is not None

    def no_whole_read(*_: object) -> None:
        raise AssertionError("the whole matrix was read again")

    monkeypatch.setattr(sqlite_store, "_stored_vectors", no_whole_read)
    other = SqliteChunkStore(store.path)
    steps = [
        lambda: other.replace_talk("beta", make_talk("beta", count=3, seed=7), "fp-b2", {}),  # rewritten, 1 fewer
        lambda: other.replace_talk("gamma", make_talk("gamma", count=2, seed=8), "fp-g", {}),  # new
        lambda: other.remove_talk("alpha"),  # removed
        lambda: other.replace_talk("alpha", make_talk("alpha", count=1, seed=9), "fp-a2", {}),  # back, later rowids
    ]
    for step in steps:
        step()
        found = store.embedding_search(vector, None, 20)
        db = other._connection()
        rowids, matrix = whole_read(db, other.count_chunks())  # in vec0's order, which reuses freed slots
        live_rowids, live_matrix = store._vectors.live()
        kept, read = np.argsort(live_rowids), np.argsort(rowids)
        assert np.array_equal(live_rowids[kept], rowids[read]) and np.array_equal(live_matrix[kept], matrix[read])
        with SqliteChunkStore(store.path) as fresh:  # a fresh store's first question scans vec0
            scanned = fresh.embedding_search(vector, None, 20)
        assert [doc.id for doc in found] == [doc.id for doc in scanned]
        assert [doc.score for doc in found] == pytest.approx([doc.score for doc in scanned], abs=1e-6)
    assert sorted(store._vectors.rows) == ["alpha", "beta", "gamma"] and len(store._vectors.blocks) == 4
    other.close()


def test_filters_on_talk_event_speaker_and_other_fields(store: SqliteChunkStore):
    vector = store.documents("alpha")[0].embedding
    by_talk = {"operator": "AND", "conditions": [{"field": "meta.talk_id", "operator": "==", "value": "beta"}]}
    by_event = {"field": "meta.event", "operator": "in", "value": ["Conf A"]}
    by_speaker = {"field": "meta.speaker", "operator": "in", "value": ["Grace Hopper"]}
    by_start = {"field": "meta.start", "operator": ">=", "value": 60.0}
    either = {"operator": "OR", "conditions": [by_event, by_speaker]}
    not_a = {"operator": "NOT", "conditions": [by_event]}
    cases = [(by_talk, {"beta"}), (by_event, {"alpha"}), (by_speaker, {"beta"}), (either, {"alpha", "beta"})]
    cases.append((not_a, {"beta"}))
    for filters, talk_ids in cases:
        for found in (store.embedding_search(vector, filters, 10), store.keyword_search("teams", filters, 10)):
            assert found and {doc.meta["talk_id"] for doc in found} == talk_ids, filters
    late = store.embedding_search(vector, by_start, 10)
    assert len(late) == 4 and all(doc.meta["start"] >= 60 for doc in late)
    assert filters_to_sql({"field": "meta.event", "operator": "in", "value": []}) == ("0", [])
    with pytest.raises(StoreError, match="unknown filter operator"):
        store.keyword_search("teams", {"field": "meta.event", "operator": "~", "value": "x"}, 5)


def test_threads_read_while_another_writes(store: SqliteChunkStore):
    """One store object, many threads: each gets its own connection; readers see whole talks only."""
    problems: list[BaseException] = []
    vector = store.documents("alpha")[0].embedding
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                for talk_id in store.talk_ids():
                    header, documents = store.header(talk_id), store.documents(talk_id)
                    if header and documents and header["chunks"] != len(documents):
                        # a talk replaced between the two reads is fine; a half-written one never is
                        assert header["chunks"] in (3, 4) and len(documents) in (3, 4)
                assert store.embedding_search(vector, None, 5) and store.keyword_search("teams", None, 5)
        except BaseException as error:  # reported by the main thread
            problems.append(error)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for round_ in range(30):
        store.replace_talk("beta", make_talk("beta", count=3 + round_ % 2, seed=round_), f"fp{round_}", {})
    stop.set()
    for reader in readers:
        reader.join(timeout=60)
    assert not problems, problems[0]
    assert store.header("beta")["chunks"] == 4


WRITER = """
import sys
sys.path.insert(0, {root!r})
from tests.stores.test_sqlite import make_talk
from pipeline.stores.sqlite import SqliteChunkStore
store = SqliteChunkStore({path!r})
for number in range(15):
    talk_id = "{prefix}-%02d" % number
    store.replace_talk(talk_id, make_talk(talk_id, count=6, seed=number), "fp", {{}})
"""


def test_two_writing_processes_lose_nothing(tmp_path: Path):
    path = str(tmp_path / "talks.db")
    root = str(Path(__file__).resolve().parents[2])
    processes = [
        subprocess.Popen([sys.executable, "-c", WRITER.format(root=root, path=path, prefix=prefix)])
        for prefix in ("left", "right")
    ]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]
    with SqliteChunkStore(path) as store:
        assert len(store.talk_ids()) == 30 and store.count_chunks() == 180
        assert store._connection().execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_damaged_file_is_one_clear_error(tmp_path: Path):
    path = tmp_path / "talks.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"talks\.db: .*not an SQLite database"):
        SqliteChunkStore(path).talk_ids()


def test_a_workspace_made_with_the_memory_store_keeps_working_and_migrates(tmp_path: Path):
    """A workspace from before the SQLite store (`index/*.npz`) is read as it is, with a one-line hint, until
    `talks migrate --to sqlite` copies it; then the default is the SQLite file, with the same answers."""
    workspace = tmp_path / "ws"
    made = talks(workspace, "ingest", str(DATA / "founder-talk.vtt"), "--store", "memory")
    assert made.returncode == 0, made.stderr
    assert list((workspace / "index").glob("*.npz")) and not (workspace / "talks.db").exists()

    listed = talks(workspace, "list")
    assert listed.returncode == 0 and "founder-talk" in listed.stdout and "not indexed" not in listed.stdout
    assert "talks migrate --to sqlite" in listed.stderr and len(listed.stderr.strip().splitlines()) == 1
    before = talks(workspace, "ask", "Why did they keep the Apache license?", "--json")
    assert before.returncode == 0, before.stderr

    migrated = talks(workspace, "migrate", "--to", "sqlite")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "(verified)" in migrated.stdout
    config = StoreConfig.resolve(workspace=workspace, environ={})
    assert config.kind == "sqlite" and config.legacy_hint is None
    with open_store(config, workspace) as store:
        assert store.talk_ids() == ["founder-talk"]
        chunks = store.documents("founder-talk")
        stored = store.sentence_vectors([chunk.id for chunk in chunks])  # computed by migrate: no per-question work
    assert stored.keys() == {chunk.id for chunk in chunks}
    assert [len(stored[chunk.id]) for chunk in chunks] == [len(split_sentences(chunk.content)) for chunk in chunks]
    fresh = SentenceEmbedder().embed([chunks[0].content])[0]
    assert np.allclose(stored[chunks[0].id], fresh, atol=2e-3)  # as ingest stores them (float16)
    after = talks(workspace, "ask", "Why did they keep the Apache license?", "--json")
    assert after.returncode == 0 and "migrate" not in after.stderr
    old, new = Answer.model_validate_json(before.stdout), Answer.model_validate_json(after.stdout)
    assert new.passages[0].first_segment == old.passages[0].first_segment  # the same best passage (BM25s differ)
    assert "apache" in new.passages[0].text.lower()


def test_migrating_from_a_store_with_sentence_embeddings_copies_them(sample_workspace, tmp_path: Path, monkeypatch):
    from pipeline.migrate import migrate

    def no_embedding(*_: object) -> None:
        raise AssertionError("the stored sentence embeddings should be copied, not computed")

    monkeypatch.setattr(SentenceEmbedder, "embed", no_embedding)
    with open_store(StoreConfig(kind="sqlite"), sample_workspace.root) as source:
        target = SqliteChunkStore(tmp_path / "copy.db")
        assert migrate(source, target, ["founder-talk", "fireside-chat"]).verified
        ids = [chunk.id for talk in ("founder-talk", "fireside-chat") for chunk in source.documents(talk)]
        original, copied = source.sentence_vectors(ids), target.sentence_vectors(ids)
        assert target.header("founder-talk")["sentence_kind"] == source.header("founder-talk")["sentence_kind"]
        target.close()
    assert original.keys() == copied.keys() == set(ids)
    assert all(np.array_equal(original[chunk_id], copied[chunk_id]) for chunk_id in ids)


def test_one_searcher_answers_from_many_threads(sample_workspace):
    """A long-lived process (`talks serve`) shares one warm Searcher between threads: same answers as one by one."""
    from concurrent.futures import ThreadPoolExecutor

    from pipeline.query import Searcher

    searcher = Searcher(sample_workspace)
    searcher.warm_up()
    assert searcher.store.kind == "sqlite"
    questions = [
        ("Why did they keep the Apache license?", None),
        ("How do remote teams stay aligned?", "panel-remote-teams"),
        ("How should developer tools be priced?", None),
        ("What makes documentation get read?", None),
    ] * 3
    expected = [searcher.ask(question, top_k=3, talk=talk).model_dump() for question, talk in questions]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda item: searcher.ask(item[0], top_k=3, talk=item[1]).model_dump(), questions))
    assert answers == expected
    assert all(answer["passages"] for answer in answers)
    searcher.close()
