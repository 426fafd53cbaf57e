"""Recaps of stored talks reuse the sentences' own embeddings a SQLite store kept at ingest (talks ingested before
sentence vectors were pooled from the chunk pass), with the same result; pooled ones are not used for recaps, nor
read: the store records which kind a talk keeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from haystack import Document

from pipeline.components.segmenter import SentenceSplitter
from pipeline.components.stored_sentences import StoredSentenceEmbedder
from pipeline.embedding import document_embedder
from pipeline.models import TalkRecap
from pipeline.recap import Recapper, RecapSettings
from pipeline.stores.sqlite import SqliteChunkStore
from pipeline.text import split_sentences


def comparable(recap: TalkRecap) -> dict:
    data = recap.model_dump(mode="json")
    data["generation"].pop("seconds", None)
    data["generation"].pop("created_at", None)
    return data


def counting(embedder, monkeypatch) -> list[int]:
    embedded: list[int] = []
    run = embedder.run
    monkeypatch.setattr(embedder, "run", lambda documents: embedded.append(len(documents)) or run(documents))
    return embedded


def test_a_talk_with_pooled_sentence_vectors_is_recapped_from_its_sentences_own(sample_workspace, monkeypatch):
    stored = Recapper(sample_workspace)
    stored.warm_up()
    embedder = stored.pipeline.get_component("embedder")
    assert isinstance(embedder, StoredSentenceEmbedder)
    embedded = counting(embedder.embedder, monkeypatch)
    assert embedder.vectors.header("founder-talk")["sentence_kind"] == "pooled"  # as ingest wrote it
    monkeypatch.setattr(embedder.vectors, "talk_sentence_vectors", lambda talk_id: pytest.fail("read pooled vectors"))
    transcript = sample_workspace.load_transcript("founder-talk")
    with_store = stored.recap("founder-talk")
    sentences = SentenceSplitter().run(transcripts=[transcript])["documents"]
    assert embedded == [len(sentences)]  # every sentence embedded, once, nothing probed
    plain = Recapper(settings=RecapSettings(sentence_encoder="onnx-int8"))  # the encoder of a stored talk's recap
    assert comparable(with_store) == comparable(plain.recap_transcript(transcript))


def test_stored_own_vectors_are_taken_and_only_the_missing_sentences_embedded(tmp_path: Path, monkeypatch):
    embedder = document_embedder()
    embedder.warm_up()
    text = "We picked Apache. Companies can contribute. Pricing came next. Hiring was hard. We moved to Berlin."
    chunk = embedder.run(documents=[Document(id="demo:0-1", content=text, meta={"talk_id": "demo"})])["documents"][0]
    own = embedder.run(documents=[Document(content=s) for s in split_sentences(text)])["documents"]
    store = SqliteChunkStore(tmp_path / "talks.db")
    store.replace_talk("demo", [chunk], "v1", {}, sentence_vectors=[[d.embedding for d in own]], sentence_kind="own")
    stored = StoredSentenceEmbedder(embedder=embedder, vectors=store)
    embedded = counting(embedder, monkeypatch)
    asked = [Document(content=s, meta={"talk_id": "demo"}) for s in ("Pricing came next.", "Thank you.")]
    result = stored.run(documents=asked)["documents"]
    assert embedded == [1]  # only the one sentence the store lacks
    assert max(abs(a - b) for a, b in zip(result[0].embedding, own[2].embedding, strict=True)) < 2e-3


def test_a_stored_talk_embeds_its_sentences_with_the_int8_encoder_unless_told_otherwise(tmp_path: Path, monkeypatch):
    """The sentences a stored talk's recap embeds itself go through the int8 ONNX model (same recap quality on QMSum
    val: `bench/recap_encoder_qmsum.py`); `TALKS_RECAP_ENCODER` names another. Without a store, torch as before."""
    from pipeline.components.embedders import PackagedDocumentEmbedder
    from pipeline.components.onnx_embedders import OnnxDocumentEmbedder
    from pipeline.embedding import EncoderSettingError
    from pipeline.recap import build_recap_pipeline

    store = SqliteChunkStore(tmp_path / "talks.db")
    monkeypatch.delenv("TALKS_RECAP_ENCODER", raising=False)
    embedder = build_recap_pipeline(vectors=store).get_component("embedder").embedder
    assert isinstance(embedder, OnnxDocumentEmbedder) and embedder.precision == "int8"
    assert isinstance(build_recap_pipeline().get_component("embedder"), PackagedDocumentEmbedder)
    monkeypatch.setenv("TALKS_RECAP_ENCODER", "torch")
    assert isinstance(build_recap_pipeline(vectors=store).get_component("embedder").embedder, PackagedDocumentEmbedder)
    assert RecapSettings().resolved().sentence_encoder == "torch"
    monkeypatch.setenv("TALKS_RECAP_ENCODER", "int4")
    with pytest.raises(EncoderSettingError, match="TALKS_RECAP_ENCODER='int4'"):
        build_recap_pipeline(vectors=store)
