"""The PostgreSQL/pgvector chunk store against a real server (tests/pgserver.py): whole-talk replacement, keyword and
embedding retrieval with filters, concurrent writers, the error messages, and pipeline dumps without passwords."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace

import psycopg
import pytest
from haystack import Document, Pipeline

from pipeline.stores import StoreError
from pipeline.stores.pgvector import PgvectorAnyWordRetriever, PgvectorChunkStore, public_connection_url
from tests.conftest import DATA, ROOT
from tests.helpers import talks
from tests.pgserver import database_url

PANEL = "panel-remote-teams"
COPY = "panel-copy"
COPY_EVENT = "Remote Summit 2027"
SECRET = "hunter2-s3cret"


@pytest.fixture(scope="module")
def panel_documents() -> list[Document]:
    """The panel's chunks, embedded with the packaged model, as the indexing pipeline makes them."""
    from pipeline.components.chunker import TranscriptChunker
    from pipeline.components.cleaner import TranscriptCleaner
    from pipeline.embedding import document_embedder
    from pipeline.sources import load_source

    transcript = load_source(str(DATA / f"{PANEL}.srt"), {}, None)
    transcript = TranscriptCleaner().run(transcript)["transcript"]
    documents = TranscriptChunker().run(transcript)["documents"]
    embedder = document_embedder()
    embedder.warm_up()
    return embedder.run(documents)["documents"]


def copy_of(documents: list[Document], talk_id: str = COPY, event: str = COPY_EVENT) -> list[Document]:
    """The same chunks as another talk of another event."""
    return [
        replace(doc, id=doc.id.replace(PANEL, talk_id), meta={**doc.meta, "talk_id": talk_id, "event": event})
        for doc in documents
    ]


@pytest.fixture
def store(pgvector_store_url: str):
    with PgvectorChunkStore(pgvector_store_url) as chunk_store:
        yield chunk_store


@pytest.fixture
def two_talks(store: PgvectorChunkStore, panel_documents: list[Document]) -> PgvectorChunkStore:
    store.replace_talk(PANEL, panel_documents, "fp-panel", {"chunk_words": 165})
    store.replace_talk(COPY, copy_of(panel_documents), "fp-copy", {"chunk_words": 165})
    return store


def lexemes(store: PgvectorChunkStore, text: str) -> set[str]:
    cursor = store.document_store.connection().execute("SELECT lexeme FROM unnest(to_tsvector('english', %s))", (text,))
    return {row[0] for row in cursor.fetchall()}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- whole-talk replacement ---------------------------------------------------------------------------------------


def test_round_trip_replace_header_documents_remove(store: PgvectorChunkStore, panel_documents: list[Document]):
    assert store.kind == "pgvector"
    assert store.describe().startswith("pgvector postgresql://127.0.0.1:") and store.describe().endswith(" table talks")
    assert store.talk_ids() == [] and store.count_chunks() == 0 and store.header(PANEL) is None

    store.replace_talk(PANEL, panel_documents, "fp-1", {"chunk_words": 165, "chunk_overlap": 55})

    assert store.talk_ids() == [PANEL]
    assert store.header(PANEL) == {
        "talk_id": PANEL,
        "fingerprint": "fp-1",
        "settings": {"chunk_words": 165, "chunk_overlap": 55},
        "chunks": len(panel_documents),
    }
    assert store.count_chunks() == len(panel_documents)
    stored = store.documents(PANEL)
    assert [doc.id for doc in stored] == [doc.id for doc in panel_documents]  # chunk order
    for original, back in zip(panel_documents, stored, strict=True):
        assert back.content == original.content
        assert back.meta == original.meta
        assert back.embedding == pytest.approx(original.embedding, abs=1e-6)
    facets = store.facets()
    assert facets.talk_ids == [PANEL]
    assert facets.events == ["Open Source Founders Summit 2026"]
    assert facets.speakers == ["Jonas Weber", "Priya Raman", "Tomás Okafor"]

    store.remove_talk(PANEL)
    assert store.talk_ids() == [] and store.header(PANEL) is None
    assert store.documents(PANEL) == [] and store.count_chunks() == 0
    store.remove_talk(PANEL)  # removing a missing talk is fine


def test_reingest_replaces_never_duplicates(store: PgvectorChunkStore, panel_documents: list[Document]):
    store.replace_talk(PANEL, panel_documents, "fp-1", {})
    store.replace_talk(PANEL, panel_documents, "fp-1", {})
    assert store.count_chunks() == len(panel_documents)

    store.replace_talk(PANEL, panel_documents[:5], "fp-2", {})  # re-chunked into fewer chunks: the rest go
    assert [doc.id for doc in store.documents(PANEL)] == [doc.id for doc in panel_documents[:5]]
    assert store.header(PANEL)["chunks"] == 5 and store.header(PANEL)["fingerprint"] == "fp-2"
    assert store.count_chunks() == 5

    store.replace_talk(PANEL, [], "fp-empty", {})
    assert store.count_chunks() == 0 and store.header(PANEL)["chunks"] == 0


def test_a_failed_replacement_leaves_the_old_talk(store: PgvectorChunkStore, panel_documents: list[Document]):
    store.replace_talk(PANEL, panel_documents, "fp-old", {})
    broken = [*panel_documents, panel_documents[0]]  # a duplicate id fails the insert after the delete ran
    with pytest.raises(StoreError, match=f"writing talk {PANEL} failed"):
        store.replace_talk(PANEL, broken, "fp-new", {})
    assert store.header(PANEL)["fingerprint"] == "fp-old"
    assert [doc.id for doc in store.documents(PANEL)] == [doc.id for doc in panel_documents]

    with pytest.raises(StoreError, match="dimension mismatch"):
        store.replace_talk(PANEL, [replace(panel_documents[0], embedding=[0.1] * 768)], "fp-new", {})
    assert store.count_chunks() == len(panel_documents)


WRITER = textwrap.dedent(
    """
    import random, sys, threading
    from haystack import Document
    from pipeline.stores.pgvector import PgvectorChunkStore

    url, talk_id, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    stores = [PgvectorChunkStore(url) for _ in range(2)]  # two connections, racing each other for the same talk
    print("ready", flush=True)
    sys.stdin.readline()  # both processes start together

    def write(store, seed):
        rng = random.Random(seed)
        for round in range(rounds):
            documents = [
                Document(id=f"{talk_id}:{i}-{i}", content=f"chunk {i} of {talk_id}, round {round}",
                         embedding=[rng.random() for _ in range(384)],
                         meta={"talk_id": talk_id, "first_segment": i, "last_segment": i, "speaker": None})
                for i in range(20)
            ]
            store.replace_talk(talk_id, documents, f"fp-{round}", {})

    threads = [threading.Thread(target=write, args=(store, seed)) for seed, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    """
)


def test_concurrent_writers(pgvector_store_url: str):
    """Two processes at once, from an empty database (both create the tables), each replacing its own talk ten times
    from two connections at once."""
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pgvector_store_url, talk_id, "10"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for talk_id in ("talk-a", "talk-b")
    ]
    for writer in writers:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n", writer.communicate()[1]
    for writer in writers:
        _, stderr = writer.communicate("go\n", timeout=120)
        assert writer.returncode == 0, stderr
    with PgvectorChunkStore(pgvector_store_url) as store:
        assert store.talk_ids() == ["talk-a", "talk-b"]
        assert store.count_chunks() == 40
        for talk_id in ("talk-a", "talk-b"):
            assert store.header(talk_id)["chunks"] == 20 and store.header(talk_id)["fingerprint"] == "fp-9"
            assert [doc.meta["first_segment"] for doc in store.documents(talk_id)] == list(range(20))
            assert {doc.content for doc in store.documents(talk_id)} == {
                f"chunk {i} of {talk_id}, round 9" for i in range(20)
            }


# --- keyword retrieval --------------------------------------------------------------------------------------------


def test_keyword_retriever_answers_questions_whose_words_are_not_all_in_the_chunk(two_talks: PgvectorChunkStore):
    question = "Why do recorded video walkthroughs fail for decisions?"
    keyword, _ = two_talks.retrievers(5)
    found = keyword.run(query=question, filters={"field": "meta.talk_id", "operator": "==", "value": PANEL})
    top = found["documents"][0]
    assert top.id == f"{PANEL}:27-35"  # "... recorded walkthroughs instead of meetings. ... I hate them for decisions"
    assert top.score is not None and top.score > 0
    assert not lexemes(two_talks, question) <= lexemes(two_talks, top.content or "")  # not every word is in it
    # Haystack's PgvectorKeywordRetriever (plainto_tsquery: every word must match) finds nothing
    assert two_talks.document_store._keyword_retrieval(question, top_k=5) == []
    assert keyword.run(query="the of and")["documents"] == []  # stop words only
    assert keyword.run(query="zeppelin quasar")["documents"] == []


def test_keyword_retriever_ranks_a_rare_word_above_a_common_one(two_talks: PgvectorChunkStore):
    keyword, _ = two_talks.retrievers(60)
    ranked = keyword.run(query="osmosis teams")["documents"]
    rare = [i for i, doc in enumerate(ranked) if "osmosis" in (doc.content or "").lower()]
    common = [i for i, doc in enumerate(ranked) if i not in rare]
    assert rare and common
    assert max(rare) < min(common)  # every chunk with the rare word before any chunk with only the common one
    scores = [doc.score for doc in ranked]
    assert scores == sorted(scores, reverse=True)


def test_pruned_keyword_search_is_exact(two_talks: PgvectorChunkStore):
    """Looking chunks up by the rare words first (MaxScore) gives the same ranking as scoring every match."""
    store = two_talks.document_store
    speaker = {"field": "meta.speaker", "operator": "in", "value": ["Priya Raman"]}
    for question, top_k, filters in [
        ("How do you handle on-call across time zones?", 5, None),
        ("what do juniors do when they are stuck", 3, None),
        ("Should remote teams replace a recurring meeting with written updates?", 10, speaker),
        ("the people and the team", 60, None),
    ]:
        pruned = store._any_word_retrieval(question, filters=filters, top_k=top_k)
        full = store._any_word_retrieval(question, filters=filters, top_k=top_k, prune=False)
        assert [doc.id for doc in pruned] == [doc.id for doc in full]
        assert [doc.score for doc in pruned] == pytest.approx([doc.score for doc in full])


@pytest.mark.parametrize(
    ("condition", "check"),
    [
        ({"field": "meta.talk_id", "operator": "==", "value": COPY}, lambda meta: meta["talk_id"] == COPY),
        ({"field": "meta.event", "operator": "in", "value": [COPY_EVENT]}, lambda meta: meta["event"] == COPY_EVENT),
        (
            {"field": "meta.speaker", "operator": "in", "value": ["Priya Raman", "Nobody"]},
            lambda meta: meta["speaker"] == "Priya Raman",
        ),
    ],
)
def test_retrievers_honour_filters(two_talks: PgvectorChunkStore, panel_documents: list[Document], condition, check):
    everything = two_talks.document_store.filter_documents()
    matching = [doc for doc in everything if check(doc.meta)]
    assert 0 < len(matching) < len(everything)
    filters = {"operator": "AND", "conditions": [condition]}
    keyword, embedding = two_talks.retrievers(60)

    found = keyword.run(query="remote teams, time zones and on-call", filters=filters)["documents"]
    assert found and all(check(doc.meta) for doc in found)

    query_embedding = panel_documents[3].embedding
    found = embedding.run(query_embedding=query_embedding, filters=filters, top_k=8)["documents"]
    assert len(found) == min(8, len(matching))  # the HNSW scan keeps going until it has top_k matches
    assert all(check(doc.meta) for doc in found)


def test_embedding_retriever(two_talks: PgvectorChunkStore, panel_documents: list[Document]):
    _, embedding = two_talks.retrievers(5)
    target = panel_documents[7]
    found = embedding.run(
        query_embedding=target.embedding, filters={"field": "meta.talk_id", "operator": "==", "value": PANEL}
    )["documents"]
    assert len(found) == 5
    assert found[0].id == target.id and found[0].score == pytest.approx(1.0, abs=1e-4)
    assert [doc.score for doc in found] == sorted((doc.score for doc in found), reverse=True)
    assert found[0].embedding is not None and len(found[0].embedding) == 384


def test_query_pipeline_with_searcher_filters(two_talks: PgvectorChunkStore):
    from pipeline.pipelines import QuerySettings, build_query_pipeline, query_inputs

    pipeline = build_query_pipeline(two_talks, QuerySettings(top_k=3))
    filters = {
        "operator": "AND",
        "conditions": [
            {"field": "meta.event", "operator": "in", "value": ["Open Source Founders Summit 2026"]},
            {"field": "meta.speaker", "operator": "in", "value": ["Priya Raman"]},
        ],
    }
    answer = pipeline.run(query_inputs("how does follow-the-sun on-call work?", filters, 3))["answer_writer"]["answer"]
    assert answer.passages
    assert {passage.talk_id for passage in answer.passages} == {PANEL}


# --- error messages -----------------------------------------------------------------------------------------------


def test_connection_refused_is_one_line(postgres_url: str):
    url = f"postgresql://writer:{SECRET}@127.0.0.1:{closed_port()}/talks"
    with pytest.raises(StoreError) as error:
        PgvectorChunkStore(url)
    message = str(error.value)
    assert message.startswith("pgvector postgresql://127.0.0.1:")
    assert "cannot connect" in message and "Connection refused" in message
    assert SECRET not in message and "\n" not in message


def test_unknown_host_and_unknown_role(postgres_url: str):
    with pytest.raises(StoreError, match="cannot connect: failed to resolve host"):
        PgvectorChunkStore(f"postgresql://u:{SECRET}@no-such-host.invalid/talks")
    nobody = database_url(postgres_url, "postgres").replace("postgres@", f"nobody:{SECRET}@", 1)
    with pytest.raises(StoreError, match=r'cannot connect: .*role "nobody" does not exist') as error:
        PgvectorChunkStore(nobody)
    assert SECRET not in str(error.value)


@pytest.mark.parametrize("url", [f"postgres//user:{SECRET}@host/db", f"mysql://user:{SECRET}@host/db", "dbname"])
def test_malformed_connection_string(url: str):
    with pytest.raises(StoreError, match="malformed PostgreSQL connection string") as error:
        PgvectorChunkStore(url)
    assert SECRET not in str(error.value)


@pytest.mark.parametrize(
    ("url", "public"),
    [
        (f"postgresql://writer:{SECRET}@db.example:5433/talks?sslmode=require", "postgresql://db.example:5433/talks"),
        (f"postgres://writer:{SECRET}@db.example/talks", "postgres://db.example/talks"),
        (f"host=db.example port=5433 dbname=talks user=writer password={SECRET}", "postgresql://db.example:5433/talks"),
        (f"postgres//writer:{SECRET}@db.example/talks", "(malformed connection string)"),
    ],
)
def test_public_connection_url(url: str, public: str):
    assert public_connection_url(url) == public


def test_invalid_table_name(pgvector_store_url: str):
    with pytest.raises(StoreError, match="invalid table name 'Talks; drop'"):
        PgvectorChunkStore(pgvector_store_url, table="Talks; drop")


def test_table_of_another_dimension(pgvector_store_url: str):
    with psycopg.connect(pgvector_store_url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE talks_chunks (id VARCHAR(128) PRIMARY KEY, embedding vector(768), content TEXT)"
        )
    with pytest.raises(StoreError, match=r"dimension mismatch: table talks_chunks holds vector\(768\) embeddings.*384"):
        PgvectorChunkStore(pgvector_store_url)
    with PgvectorChunkStore(pgvector_store_url, table="minilm") as store:  # another table name works
        assert store.talk_ids() == []


def test_missing_extension_the_user_may_not_create(postgres_url: str):
    suffix = uuid.uuid4().hex[:8]
    database, role = f"t_noext_{suffix}", f"reader_{suffix}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
    try:
        url = database_url(postgres_url, database).replace("postgres@", f"{role}:{SECRET}@", 1)
        with pytest.raises(StoreError) as error:
            PgvectorChunkStore(url)
        message = str(error.value)
        assert f"the pgvector extension is not installed in database '{database}'" in message
        assert f"user '{role}' may not create it" in message and "CREATE EXTENSION vector" in message
        assert SECRET not in message
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {role}")


# --- no password in dumps -----------------------------------------------------------------------------------------


@pytest.fixture
def password_url(pgvector_store_url: str, postgres_url: str):
    """The test database, owned by a role with a password, and a URL with that password."""
    role = f"writer_{uuid.uuid4().hex[:8]}"
    database = pgvector_store_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SECRET}'")
        admin.execute(f'ALTER DATABASE "{database}" OWNER TO {role}')
    yield pgvector_store_url.replace("postgres@", f"{role}:{SECRET}@", 1)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_dumped_pipeline_has_no_password_and_loads_back(
    password_url: str, panel_documents: list[Document], monkeypatch: pytest.MonkeyPatch
):
    from pipeline.pipelines import build_query_pipeline

    with PgvectorChunkStore(password_url) as store:
        store.replace_talk(PANEL, panel_documents, "fp", {})
        public = store.describe().split()[1]
        assert SECRET not in store.describe() and "writer_" not in store.describe()
        dumped = build_query_pipeline(store).dumps()
    assert SECRET not in dumped and "writer_" not in dumped
    assert f"url: {public}" in dumped and "url_env: TALKS_STORE_URL" in dumped

    monkeypatch.setenv("TALKS_STORE_URL", password_url)  # a loaded pipeline takes the full string from here
    loaded = Pipeline.loads(dumped, allowed_modules=["pipeline.*"])
    keyword = loaded.get_component("bm25")
    assert isinstance(keyword, PgvectorAnyWordRetriever)
    assert keyword.run(query="who pays for on-call?", top_k=3)["documents"]
    embedding = loaded.get_component("embedding_retriever")
    assert (
        embedding.run(query_embedding=panel_documents[0].embedding, top_k=1)["documents"][0].id == panel_documents[0].id
    )
    keyword.close()
    embedding.close()


def test_cli_pipeline_dump_has_no_password(password_url: str, tmp_path):
    result = talks(tmp_path / "ws", "pipeline", "query", "--store", "pgvector", "--store-url", password_url)
    assert result.returncode == 0, result.stderr
    assert "PgvectorAnyWordRetriever" in result.stdout and "PgvectorChunkEmbeddingRetriever" in result.stdout
    assert SECRET not in result.stdout + result.stderr
