"""Recaps of stored talks reuse the sentence embeddings the SQLite store kept at ingest (pooled from the chunk pass,
`pipeline.sentence_pooling`), embedding only the sentences the store lacks."""

from __future__ import annotations

import numpy as np

from pipeline.components.segmenter import SentenceSplitter
from pipeline.components.stored_sentences import StoredSentenceEmbedder
from pipeline.recap import Recapper
from pipeline.stores import StoreConfig, open_store
from pipeline.text import split_sentences


def test_a_stored_talks_recap_embeds_only_the_sentences_the_store_lacks_and_takes_the_stored_vectors(
    sample_workspace, monkeypatch
):
    stored = Recapper(sample_workspace)
    stored.warm_up()
    embedder = stored.pipeline.get_component("embedder")
    assert isinstance(embedder, StoredSentenceEmbedder)
    embedded: list[int] = []
    run = embedder.embedder.run
    monkeypatch.setattr(embedder.embedder, "run", lambda documents: embedded.append(len(documents)) or run(documents))
    transcript = sample_workspace.load_transcript("founder-talk")
    sentences = SentenceSplitter().run(transcripts=[transcript])["documents"]
    documents = embedder.run(documents=sentences)["documents"]
    assert 0 < sum(embedded) < len(sentences) / 10  # a few sentences cut at chunk edges; ~400 found in the store
    with open_store(StoreConfig(kind="sqlite"), sample_workspace.root) as store:
        chunk = store.documents("founder-talk")[3]
        vectors = store.sentence_vectors([chunk.id])[chunk.id]
    kept = dict(zip(split_sentences(chunk.content or ""), vectors, strict=True))
    taken = [(doc, kept[doc.content]) for doc in documents if doc.content in kept]
    assert taken  # the chunk's sentences are the store's vectors (a later chunk holding one too may give its own)
    assert any(np.allclose(doc.embedding, vector) for doc, vector in taken)
    assert stored.recap("founder-talk").themes
