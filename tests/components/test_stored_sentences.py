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


def test_a_talk_with_pooled_sentence_vectors_is_recapped_from_its_sentences_own(
    sample_workspace, extractive, monkeypatch
):
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
    # without a store, every sentence embedded with the same encoder as the stored talk's
    assert comparable(with_store) == comparable(extractive.recap_transcript(transcript))


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


def test_recaps_and_digests_embed_sentences_with_the_int8_encoder_unless_told_otherwise(tmp_path: Path, monkeypatch):
    """The sentences a recap embeds itself (a stored talk's, a transcript's without a store, an event digest's) go
    through the int8 ONNX model (same recap quality on QMSum val: `bench/recap_encoder_qmsum.py`), chosen once for
    both pipelines and recorded in the parameters; `TALKS_RECAP_ENCODER` names another, a bad name is one error."""
    from pipeline.components.embedders import PackagedDocumentEmbedder
    from pipeline.components.onnx_embedders import OnnxDocumentEmbedder
    from pipeline.embedding import EncoderSettingError
    from pipeline.workspace import Workspace

    def embedders(recapper: Recapper) -> list:
        stored = recapper.pipeline.get_component("embedder")
        return [getattr(stored, "embedder", stored), recapper.digest_pipeline.get_component("embedder")]

    workspace = Workspace(tmp_path)
    SqliteChunkStore(tmp_path / "talks.db").close()  # an existing store: the recap pipeline reads vectors from it
    monkeypatch.delenv("TALKS_RECAP_ENCODER", raising=False)
    with_store, without = Recapper(workspace), Recapper()
    assert isinstance(with_store.pipeline.get_component("embedder"), StoredSentenceEmbedder)
    for embedder in embedders(with_store) + embedders(without):
        assert isinstance(embedder, OnnxDocumentEmbedder) and embedder.precision == "int8"
    assert with_store.settings.sentence_encoder == without.settings.sentence_encoder == "onnx-int8"
    for pipeline in (with_store.pipeline, without.pipeline, without.digest_pipeline):
        assert pipeline.get_component("builder").parameters["sentence_encoder"] == "onnx-int8"
    monkeypatch.setenv("TALKS_RECAP_ENCODER", "torch")
    for embedder in embedders(Recapper(workspace)) + embedders(Recapper()):
        assert isinstance(embedder, PackagedDocumentEmbedder)
    assert Recapper(settings=RecapSettings(sentence_encoder="onnx")).settings.sentence_encoder == "onnx"  # not env
    monkeypatch.setenv("TALKS_RECAP_ENCODER", "int4")
    with pytest.raises(EncoderSettingError, match="TALKS_RECAP_ENCODER='int4'"):
        Recapper()
