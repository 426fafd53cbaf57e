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
    `embedder` (a Haystack document embedder). The same text gives the same vector either way, up to float16
    rounding (~1e-3). Sentences the chunks cut at their edges, or that open a turn with a speaker label in the chunk
    text, are not found and are embedded here. Stored vectors pooled from the chunk pass (talks ingested since
    `pipeline.sentence_pooling`) are not the sentences' own: a few probes tell, and then every sentence is embedded
    here (see `_own_vectors`).

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
    vectors = [[doc.embedding for doc in own["documents"]]]  # the sentences' own vectors (as ingest kept them before)
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
        return found if self._own_vectors(found) else {}

    def _own_vectors(self, found: dict[str, np.ndarray], probes: int = 4) -> bool:
        """Whether the stored vectors are the sentences' own (ingested before pooling, or migrated), by embedding a
        few of them again. Vectors pooled from the chunk pass are not used: on QMSum val they raise the automatic
        theme count (5.2 → 6.1 dev, 4.1 → 5.8 check, gold ~4.6) and cost the overview 0.7-0.8 ROUGE-2 on both
        halves (README, "Ingestion and query speed"), so such talks' sentences are embedded here, as recaps did
        before sentence vectors were stored."""
        if not found:
            return False
        sample = list(found)[:: max(1, len(found) // probes)][:probes]
        embedded = self.embedder.run(documents=[Document(content=text) for text in sample])["documents"]
        return all(float(np.dot(found[text], doc.embedding)) > 0.99 for text, doc in zip(sample, embedded, strict=True))

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
