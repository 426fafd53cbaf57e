"""Sentence embeddings for a recap from those the store kept at ingest, embedding only the sentences it lacks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from haystack import Document, component, default_to_dict

from pipeline.stores import StoreError
from pipeline.stores.base import OWN_SENTENCES
from pipeline.text import split_sentences


@component
class StoredSentenceEmbedder:
    """Embeds sentence Documents (`SentenceSplitter`'s), taking a sentence's vector from the store when the talk's
    stored sentence embeddings are the sentences' own and a stored chunk of the talk holds exactly the same sentence
    (`vectors`: a store with `header(talk_id)` and `talk_sentence_vectors(talk_id)`, e.g. the SQLite store, which
    keeps them float16 from ingest); the others go to `embedder` (a Haystack document embedder). The same text gives
    the same vector either way, up to float16 rounding (~1e-3). Sentences the chunks cut at their edges, or that open a
    turn with a speaker label in the chunk text, are not found and are embedded here.

    Which kind a talk keeps is in its header (`sentence_kind`, written at ingest): vectors pooled from the chunk pass
    (talks ingested since `pipeline.sentence_pooling`) are not read at all, and every sentence is embedded here. On
    QMSum val they raised the automatic theme count (5.2 → 6.1 dev, 4.1 → 5.8 check, gold ~4.6) and cost the overview
    0.7-0.8 ROUGE-2 on both halves (README, "Ingestion and query speed").

    Usage example:
    ```python
    import tempfile
    from pathlib import Path

    from haystack import Document

    from pipeline.components.stored_sentences import StoredSentenceEmbedder
    from pipeline.embedding import document_embedder
    from pipeline.stores.sqlite import SqliteChunkStore

    embedder = document_embedder()
    embedder.warm_up()
    chunk = Document(id="demo:0-1", content="We picked Apache. Pricing came next.", meta={"talk_id": "demo"})
    chunks = embedder.run(documents=[chunk])["documents"]
    store = SqliteChunkStore(Path(tempfile.mkdtemp()) / "talks.db")
    own = embedder.run(documents=[Document(content=s) for s in ("We picked Apache.", "Pricing came next.")])
    vectors = [[doc.embedding for doc in own["documents"]]]  # the sentences' own vectors
    store.replace_talk("demo", chunks, fingerprint="v1", settings={}, sentence_vectors=vectors, sentence_kind="own")

    sentences = [Document(content=text, meta={"talk_id": "demo"}) for text in ("We picked Apache.", "Thank you.")]
    stored = StoredSentenceEmbedder(embedder=embedder, vectors=store)  # the first from the store, the second embedded
    print([len(doc.embedding) for doc in stored.run(documents=sentences)["documents"]])  # [384, 384]
    ```
    """

    def __init__(self, embedder: Any, vectors: Any = None) -> None:
        self.embedder = embedder
        self.vectors = vectors

    def to_dict(self) -> dict[str, Any]:
        from haystack.core.serialization import component_to_dict

        return default_to_dict(self, embedder=component_to_dict(obj=self.embedder, name="embedder"))

    def warm_up(self) -> None:
        if hasattr(self.embedder, "warm_up"):
            self.embedder.warm_up()

    def _stored(self, talk_id: str) -> dict[str, np.ndarray]:
        """The talk's stored sentence vectors by sentence text, if they are the sentences' own; else none."""
        if self.vectors is None:
            return {}
        try:
            header = self.vectors.header(talk_id) or {}
            if header.get("sentence_kind") != OWN_SENTENCES:  # pooled (or none): not read, see the class doc
                return {}
            stored = self.vectors.talk_sentence_vectors(talk_id)
        except StoreError:  # the store cannot be read now: every sentence is embedded, as without it
            return {}
        found: dict[str, np.ndarray] = {}
        for text, vectors in stored:
            sentences = split_sentences(text or "")
            if len(vectors) == len(sentences):
                found.update(zip(sentences, vectors, strict=True))
        return found

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """
        :param documents: sentence Documents, each with its `meta["talk_id"]`.
        :returns: `documents`, copies carrying their `embedding`, in the same order.
        """
        known = {talk_id: self._stored(talk_id) for talk_id in {doc.meta.get("talk_id") for doc in documents}}
        result: list[Document | None] = []
        missing: list[int] = []
        for i, doc in enumerate(documents):
            vector = known[doc.meta.get("talk_id")].get(doc.content or "")
            result.append(None if vector is None else replace(doc, embedding=vector.tolist()))
            if vector is None:
                missing.append(i)
        if missing:
            embedded = self.embedder.run(documents=[documents[i] for i in missing])["documents"]
            for i, doc in zip(missing, embedded, strict=True):
                result[i] = doc
        return {"documents": result}
