"""Sentence embeddings for a recap from those the store kept at ingest, embedding only the sentences it lacks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from haystack import Document, component, default_to_dict

from pipeline.stores import StoreError
from pipeline.text import split_sentences


@component
class StoredSentenceEmbedder:
    """Embeds sentence Documents (`SentenceSplitter`'s), taking a sentence's vector from the store when a stored chunk
    of the same talk holds exactly the same sentence (`vectors`: a store with `documents(talk_id)` and
    `sentence_vectors(chunk_ids)`, e.g. the SQLite store, which keeps them float16 from ingest); the others go to
    `embedder` (a Haystack document embedder). Stored vectors are pooled from their chunk's pass and mapped close
    to the sentence's own (`pipeline.sentence_pooling`; talks ingested before keep the sentence's own vector): a
    stored talk's recap matches the recap of the bare transcript in quality on QMSum val, not word for word (README,
    "Ingestion and query speed"). Sentences the chunks cut at their edges, or that open a turn with a speaker label
    in the chunk text, are not found and are embedded here.

    Usage example:
    ```python
    import tempfile
    from pathlib import Path

    from haystack import Document

    from pipeline.components.stored_sentences import StoredSentenceEmbedder
    from pipeline.embedding import SentenceEmbedder, document_embedder
    from pipeline.stores.sqlite import SqliteChunkStore

    embedder = document_embedder()
    embedder.warm_up()
    chunk = Document(id="demo:0-1", content="We picked Apache. Pricing came next.", meta={"talk_id": "demo"})
    chunks = embedder.run(documents=[chunk])["documents"]
    store = SqliteChunkStore(Path(tempfile.mkdtemp()) / "talks.db")
    vectors = SentenceEmbedder().run(documents=chunks)["sentence_vectors"]
    store.replace_talk("demo", chunks, fingerprint="v1", settings={}, sentence_vectors=vectors)

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
        if self.vectors is None:
            return {}
        try:
            chunks = self.vectors.documents(talk_id)
            stored = self.vectors.sentence_vectors([chunk.id for chunk in chunks])
        except StoreError:  # the store cannot be read now: every sentence is embedded, as without it
            return {}
        found: dict[str, np.ndarray] = {}
        for chunk in chunks:
            vectors = stored.get(chunk.id)
            sentences = split_sentences(chunk.content or "")
            if vectors is not None and len(vectors) == len(sentences):
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
            result.append(None if vector is None else replace(doc, embedding=vector.astype(np.float32).tolist()))
            if vector is None:
                missing.append(i)
        if missing:
            embedded = self.embedder.run(documents=[documents[i] for i in missing])["documents"]
            for i, doc in zip(missing, embedded, strict=True):
                result[i] = doc
        return {"documents": result}
