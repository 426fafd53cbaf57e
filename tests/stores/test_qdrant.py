"""The Qdrant chunk store in a local folder: real chunks of the bundled talks, embedded by the packaged model."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest
from haystack import Document, Pipeline
from haystack.utils import Secret

from pipeline.stores import StoreError, index_status, transcript_fingerprint
from pipeline.stores.qdrant import QdrantBM25Retriever, QdrantChunkStore, _TalksDocumentStore
from pipeline.stores.sparse import (
    AVERAGE_LENGTH,
    K1,
    B,
    BM25SparseEncoder,
    bm25_document_vector,
    bm25_query_vector,
    token_index,
)
from tests.conftest import DATA, ROOT

PANEL = "panel-remote-teams"
PRICING = "lightning-pricing"
OTHER_EVENT = "Pricing Meetup 2026"
SETTINGS = {"chunk_words": 165, "chunk_overlap": 55, "model": "all-MiniLM-L6-v2"}


def load_talk(name: str, overrides: dict | None = None):
    from pipeline.components.cleaner import TranscriptCleaner
    from pipeline.sources import load_source

    transcript = load_source(str(DATA / name), overrides or {}, None)
    return TranscriptCleaner().run(transcript=transcript)["transcript"]


@pytest.fixture(scope="module")
def embedder():
    from pipeline.embedding import document_embedder

    component = document_embedder()
    component.warm_up()
    return component


@pytest.fixture(scope="module")
def talks(embedder):
    """Two real talks (the pricing one moved to another event), chunked and embedded: {talk_id: (transcript, docs)}."""
    from pipeline.components.chunker import TranscriptChunker

    result = {}
    for name, overrides in (("panel-remote-teams.srt", None), ("lightning-pricing.json", {"event": OTHER_EVENT})):
        transcript = load_talk(name, overrides)
        chunks = TranscriptChunker().run(transcript=transcript)["documents"]
        result[transcript.talk.id] = (transcript, embedder.run(documents=chunks)["documents"])
    return result


@pytest.fixture
def store(tmp_path):
    chunk_store = QdrantChunkStore(path=str(tmp_path / "qdrant"), collection="test")
    yield chunk_store
    chunk_store.close()


@pytest.fixture
def filled(store, talks):
    for transcript, documents in talks.values():
        store.replace_talk(transcript.talk.id, documents, transcript_fingerprint(transcript), SETTINGS)
    return store


def terms(text: str) -> set[int]:
    """The text's distinct BM25 terms (sparse indices)."""
    return set(bm25_query_vector(text).indices)


def weights_of(text: str) -> dict[int, float]:
    vector = bm25_document_vector(text)
    return dict(zip(vector.indices, vector.values, strict=True))


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


# --- the store ----------------------------------------------------------------------------------------------------


def test_round_trip_replace_header_documents_remove(store, talks):
    transcript, documents = talks[PANEL]
    assert store.kind == "qdrant" and store.talk_ids() == [] and store.header(PANEL) is None
    store.replace_talk(PANEL, documents, transcript_fingerprint(transcript), SETTINGS)

    assert store.talk_ids() == [PANEL]
    assert store.header(PANEL) == {
        "talk_id": PANEL,
        "fingerprint": transcript_fingerprint(transcript),
        "settings": SETTINGS,
        "chunks": len(documents),
    }
    assert index_status(store, transcript) == "indexed"
    assert store.count_chunks() == len(documents)
    stored = store.documents(PANEL)
    assert [doc.id for doc in stored] == [doc.id for doc in documents]  # chunk order
    assert [doc.meta["first_segment"] for doc in stored] == sorted(doc.meta["first_segment"] for doc in stored)
    for original, copy in zip(documents, stored, strict=True):
        assert copy.content == original.content and copy.meta == original.meta
        assert copy.embedding == pytest.approx(original.embedding, abs=1e-6)
        assert copy.sparse_embedding is None
    assert all(doc.sparse_embedding is None for doc in documents)  # the caller's documents are not changed
    facets = store.facets()
    assert facets.talk_ids == [PANEL] and facets.events == ["Open Source Founders Summit 2026"]
    assert "Priya Raman" in facets.speakers

    store.remove_talk(PANEL)
    assert store.talk_ids() == [] and store.header(PANEL) is None
    assert store.count_chunks() == 0 and store.documents(PANEL) == []
    store.remove_talk(PANEL)  # removing what is gone is fine


def test_reingest_replaces_the_talk_never_duplicates(filled, talks):
    from pipeline.components.chunker import TranscriptChunker

    transcript, documents = talks[PANEL]
    total = filled.count_chunks()
    filled.replace_talk(PANEL, documents, transcript_fingerprint(transcript), SETTINGS)
    assert filled.count_chunks() == total

    # rechunked into fewer, longer windows: the old windows are gone, the other talk is untouched
    longer = TranscriptChunker(words=300, overlap=50).run(transcript=transcript)["documents"]
    by_content = {doc.content: doc.embedding for doc in documents}
    fake = [doc.embedding for doc in documents]
    longer = [
        replace(doc, embedding=by_content.get(doc.content, fake[number % len(fake)]))
        for number, doc in enumerate(longer)
    ]
    filled.replace_talk(PANEL, longer, transcript_fingerprint(transcript), {**SETTINGS, "chunk_words": 300})
    assert [doc.id for doc in filled.documents(PANEL)] == [doc.id for doc in longer]
    assert filled.count_chunks() == total - len(documents) + len(longer)
    assert filled.header(PANEL)["chunks"] == len(longer)
    assert len(filled.documents(PRICING)) == len(talks[PRICING][1])


def test_a_failed_write_leaves_the_talk_stale_not_lost(filled, talks, monkeypatch):
    transcript, documents = talks[PANEL]

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(filled._document_store, "write_documents", crash)
    with pytest.raises(StoreError, match="disk full"):
        filled.replace_talk(PANEL, documents, transcript_fingerprint(transcript), SETTINGS)
    assert PANEL in filled.talk_ids()
    assert index_status(filled, transcript) == "stale"
    monkeypatch.undo()
    filled.replace_talk(PANEL, documents, transcript_fingerprint(transcript), SETTINGS)
    assert index_status(filled, transcript) == "indexed"


def test_the_store_persists_and_close_releases_the_folder(filled, talks, tmp_path):
    import qdrant_client

    filled.close()
    # Qdrant's folder lock is per open file, so a client of our own only opens the folder once it is released
    raw = qdrant_client.QdrantClient(path=str(tmp_path / "qdrant"))
    raw.close()
    with QdrantChunkStore(path=str(tmp_path / "qdrant"), collection="test") as reopened:
        assert reopened.talk_ids() == sorted(talks)
        assert reopened.count_chunks() == sum(len(docs) for _, docs in talks.values())
    assert filled.talk_ids() == sorted(talks)  # a closed store reopens on use


# --- keyword retrieval --------------------------------------------------------------------------------------------


def bm25(store, question: str, **kwargs) -> list[Document]:
    keyword, _ = store.retrievers(10)
    return keyword.run(query=question, **kwargs)["documents"]


def test_bm25_finds_a_chunk_for_a_question_not_all_of_whose_words_it_holds(filled):
    question = "Where in Lisbon does Priya work as VP of engineering?"
    found = bm25(filled, question)
    assert found and "Fernhill" in found[0].content
    assert terms(question) - terms(found[0].content)  # some words are missing, still found
    assert all(doc.score is not None for doc in found)
    assert [doc.score for doc in found] == sorted((doc.score for doc in found), reverse=True)


def test_bm25_scores_are_okapi_bm25_with_the_collections_idf(filled, talks):
    """Local Qdrant applies the IDF modifier: each score is Σ idf(term)·saturated tf, over the whole collection."""
    documents = [doc for _, docs in talks.values() for doc in docs]
    question = "remote engineers pricing async"
    found = bm25(filled, question)
    assert found
    n = len(documents)
    for hit in found[:5]:
        weights = weights_of(hit.content)
        expected = 0.0
        for term in terms(question):
            if term in weights:
                df = sum(term in terms(doc.content) for doc in documents)
                expected += math.log((n - df + 0.5) / (df + 0.5) + 1) * weights[term]
        assert hit.score == pytest.approx(expected, rel=1e-4)


def test_bm25_ranks_a_rare_word_match_above_a_common_word_match(filled, talks):
    documents = [doc for _, docs in talks.values() for doc in docs]
    words = {token_index(word): word for doc in documents for word in re.findall(r"[a-z]{4,}", doc.content.lower())}
    frequency: dict[int, int] = {}
    for doc in documents:
        for term in terms(doc.content):
            frequency[term] = frequency.get(term, 0) + 1
    common_term = max((term for term in frequency if term in words), key=frequency.get)
    assert frequency[common_term] > len(documents) // 2
    rare_doc, rare_term = next(
        (doc, term)
        for doc in documents
        if common_term not in terms(doc.content)
        for term in sorted(terms(doc.content))
        if frequency[term] == 1 and term in words
    )
    common_doc = max(documents, key=lambda doc: weights_of(doc.content).get(common_term, 0.0))
    # without IDF the common word's chunk would win: its term-frequency weight is the larger one
    assert weights_of(common_doc.content)[common_term] > weights_of(rare_doc.content)[rare_term]
    common, rare = words[common_term], words[rare_term]

    found = [doc.id for doc in bm25(filled, f"{common} {rare}")]
    assert found[0] == rare_doc.id
    assert common_doc.id in found


def test_bm25_honours_filters(filled, talks):
    question = "how do teams decide what to charge and how to communicate"
    only_panel = bm25(filled, question, filters={"field": "meta.talk_id", "operator": "==", "value": PANEL})
    assert only_panel and {doc.meta["talk_id"] for doc in only_panel} == {PANEL}
    by_event = bm25(filled, question, filters={"field": "meta.event", "operator": "in", "value": [OTHER_EVENT]})
    assert by_event and {doc.meta["talk_id"] for doc in by_event} == {PRICING}
    speaker = {"field": "meta.speaker", "operator": "in", "value": ["Priya Raman"]}
    both = {"operator": "AND", "conditions": [{"field": "meta.talk_id", "operator": "==", "value": PANEL}, speaker]}
    by_speaker = bm25(filled, question, filters=both)
    assert by_speaker and {doc.meta["speaker"] for doc in by_speaker} == {"Priya Raman"}
    assert bm25(filled, question, filters={"field": "meta.event", "operator": "in", "value": ["Nope"]}) == []
    assert bm25(filled, "?!") == []  # no words: no query
    assert len(bm25(filled, question, top_k=2)) == 2


# --- embedding retrieval and the pipeline --------------------------------------------------------------------------


def test_embedding_retriever_finds_the_nearest_chunks(filled, talks):
    _, embedding = filled.retrievers(5)
    target = talks[PRICING][1][2]
    found = embedding.run(query_embedding=target.embedding)["documents"]
    assert len(found) == 5 and found[0].id == target.id
    assert found[0].score == pytest.approx(1.0, abs=1e-4)
    filters = {"field": "meta.talk_id", "operator": "==", "value": PANEL}
    assert {
        doc.meta["talk_id"] for doc in embedding.run(query_embedding=target.embedding, filters=filters)["documents"]
    } == {PANEL}


def test_query_pipeline_runs_and_serialises_without_secrets(filled, monkeypatch):
    from pipeline.pipelines import build_query_pipeline, query_inputs

    pipeline = build_query_pipeline(filled)
    result = pipeline.run(query_inputs("How do remote teams stay aligned?", None, 3))
    passages = result["answer_writer"]["answer"].passages
    assert passages and passages[0].talk_id == PANEL

    dumped = pipeline.dumps()
    assert "QdrantBM25Retriever" in dumped and "QdrantEmbeddingRetriever" in dumped

    # a server store's dump names the API key's variable and the URL without its password
    monkeypatch.setenv("QDRANT_API_KEY", "api-key-value")
    server = _TalksDocumentStore(
        url="https://admin:hunter2@qdrant.example.com:6333",
        api_key=Secret.from_env_var("QDRANT_API_KEY", strict=False),
        index="x_chunks",
        embedding_dim=384,
        use_sparse_embeddings=True,
        sparse_idf=True,
    )
    text = json.dumps(QdrantBM25Retriever(server).to_dict())
    assert "hunter2" not in text and "api-key-value" not in text and "admin" not in text
    assert "qdrant.example.com" in text and "QDRANT_API_KEY" in text


def test_bm25_retriever_round_trips_through_to_dict(filled):
    keyword, _ = filled.retrievers(7)
    data = keyword.to_dict()
    filled.close()  # the copy opens the folder itself
    copy = QdrantBM25Retriever.from_dict(data)
    try:
        assert copy.top_k == 7
        assert copy.run(query="Fernhill engineering")["documents"][0].meta["talk_id"] == PANEL
        pipeline = Pipeline()
        pipeline.add_component("bm25", copy)
        assert "QdrantBM25Retriever" in pipeline.dumps()
    finally:
        copy.close()


# --- errors -------------------------------------------------------------------------------------------------------


def test_a_folder_in_use_by_another_process_is_a_clear_error(store, tmp_path):
    child = run_python(
        f"""
        from pipeline.stores import StoreError
        from pipeline.stores.qdrant import QdrantChunkStore
        try:
            QdrantChunkStore(path={str(tmp_path / "qdrant")!r}, collection="test")
        except StoreError as error:
            print("StoreError:", error)
        """
    )
    assert child.returncode == 0, child.stderr
    assert "Traceback" not in child.stderr
    assert f"Qdrant folder {tmp_path / 'qdrant'} is in use by another process" in child.stdout
    assert "--store-url" in child.stdout


def test_two_stores_in_one_process_share_the_folder(store, tmp_path, talks):
    transcript, documents = talks[PRICING]
    with QdrantChunkStore(path=str(tmp_path / "qdrant"), collection="test") as second:
        second.replace_talk(PRICING, documents, transcript_fingerprint(transcript), SETTINGS)
    assert store.talk_ids() == [PRICING]


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(StoreError) as error:
        QdrantChunkStore(url="http://user:secret@127.0.0.1:9")
    message = str(error.value)
    assert message.startswith("cannot reach the Qdrant server at http://127.0.0.1:9")
    assert "secret" not in message and "\n" not in message


def test_a_dimension_mismatch_is_a_clear_error(tmp_path, talks):
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    folder = str(tmp_path / "other")
    foreign = QdrantDocumentStore(
        path=folder, index="big_chunks", embedding_dim=768, use_sparse_embeddings=True, sparse_idf=True
    )
    foreign.count_documents()
    foreign.close()
    with pytest.raises(StoreError, match="dimension mismatch: collection big_chunks holds 768-dimensional"):
        QdrantChunkStore(path=folder, collection="big")

    with QdrantChunkStore(path=folder, collection="small") as store:  # the failed open released the folder
        short = [
            Document(id=doc.id, content=doc.content, meta=doc.meta, embedding=doc.embedding[:100])
            for doc in talks[PANEL][1]
        ]
        with pytest.raises(StoreError, match="dimension mismatch"):
            store.replace_talk(PANEL, short, "x", SETTINGS)
        assert store.talk_ids() == []


def test_describe_names_the_place_without_credentials(tmp_path):
    with QdrantChunkStore(path=str(tmp_path / "q"), collection="c") as store:
        assert store.describe() == f"qdrant store (folder {tmp_path / 'q'}, collection c)"


# --- the sparse encoder ---------------------------------------------------------------------------------------------


def test_token_indices_are_qdrants_and_stable_across_processes():
    words = ["remote", "teams", "fernhill", "Ünïcode", "2026"]
    child = run_python(
        f"""
        from pipeline.stores.sparse import bm25_document_vector, token_index
        print([token_index(word) for word in {words!r}])
        print(bm25_document_vector("Remote teams, remote teams and async").indices)
        """
    )
    assert child.returncode == 0, child.stderr
    indices, vector = child.stdout.strip().splitlines()
    assert json.loads(indices) == [token_index(word) for word in words]
    assert json.loads(vector) == bm25_document_vector("Remote teams, remote teams and async").indices
    # Qdrant's (and fastembed's Qdrant/bm25) ids: abs(murmur3_32) of the Snowball stem ("remot", "apach", "fernhil")
    assert [token_index("remote"), token_index("Apache"), token_index("Fernhill")] == [
        2034026013,
        1040529602,
        1703553271,
    ]


def test_bm25_values_and_tokenisation():
    # English stop words go, words are stemmed: "engineers" and "engineering" are one term
    assert len(terms("I'm at Fernhill: 90 engineers, a VP.")) == 4 and token_index("the") is None
    assert token_index("engineers") == token_index("engineering")
    text = " ".join(["alpha"] * 2 + [f"w{n}" for n in range(int(AVERAGE_LENGTH) - 2)])  # exactly avglen terms
    weights = weights_of(text)
    assert weights[token_index("w1")] == pytest.approx(1.0)  # tf 1 at average length: (k1+1)/(1+k1)
    assert weights[token_index("alpha")] == pytest.approx(2 * (K1 + 1) / (2 + K1))
    short = weights_of("alpha beta")
    assert short[token_index("alpha")] == pytest.approx((K1 + 1) / (1 + K1 * (1 - B + B * 2 / AVERAGE_LENGTH)))
    assert list(weights) == sorted(weights)
    query = bm25_query_vector("Remote remote teams?")
    assert query.indices == sorted({token_index("remote"), token_index("teams")}) and query.values == [1.0, 1.0]
    assert bm25_query_vector("? !").indices == []

    original = Document(content="remote teams", embedding=[0.5] * 3)
    (encoded,) = BM25SparseEncoder().run([original])["documents"]
    assert original.sparse_embedding is None and encoded.embedding == [0.5] * 3
    assert (
        encoded.id == original.id and encoded.sparse_embedding.indices == bm25_document_vector("remote teams").indices
    )
