"""From ranked chunks to passages: the best distinct ones, their sentences closest to the question highlighted."""

from __future__ import annotations

from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict
from haystack.core.serialization import component_to_dict
from haystack.utils.deserialization import deserialize_component_inplace

from pipeline.embedding import SentenceEmbedder
from pipeline.models import Passage, youtube_url
from pipeline.text import split_sentences, words


def overlap_share(a: Document, b: Document) -> float:
    """How much of the shorter of two chunks of the same talk the other covers (0 for different talks)."""
    if a.meta["talk_id"] != b.meta["talk_id"]:
        return 0.0
    first = max(a.meta["first_segment"], b.meta["first_segment"])
    last = min(a.meta["last_segment"], b.meta["last_segment"])
    if last < first:
        return 0.0
    shorter = min(a.meta["last_segment"] - a.meta["first_segment"], b.meta["last_segment"] - b.meta["first_segment"])
    return (last - first + 1) / (shorter + 1)


@component
class PassageSelector:
    """Keeps the best `top_k` chunks, skipping any that overlaps a better one from the same talk by more than
    `max_overlap` (a share of the shorter one; by default any overlap), so the passages cover distinct stretches.

    `leaders` (chunk ids, e.g. each retriever's best match from `RankFusion`) come right after the first
    `leaders_after` passages, unless a stretch already chosen covers them; then the rest by score. The order is the
    same for every `top_k`, so the best 3 passages are the first 3 of the best 5.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.passages import PassageSelector

    def chunk(first: int, text: str, score: float, speaker: str = "Ada") -> Document:
        meta = {"talk_id": "demo", "first_segment": first, "last_segment": first + 3, "speaker": speaker}
        return Document(id=f"demo:{first}-{first + 3}", content=text, score=score, meta={**meta, "speakers": [speaker]})

    documents = [chunk(0, "Why Apache?", 0.9), chunk(2, "Apache, again.", 0.8), chunk(30, "Pricing.", 0.3)]
    selected = PassageSelector(top_k=2).run(documents=documents)["documents"]
    print([document.id for document in selected])  # ['demo:0-3', 'demo:30-33']: demo:2-5 overlaps the first
    ```
    """

    def __init__(self, top_k: int = 5, max_overlap: float = 0.0, leaders_after: int = 1) -> None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if leaders_after < 0:
            raise ValueError("leaders_after must not be negative")
        self.top_k = top_k
        self.max_overlap = max_overlap
        self.leaders_after = leaders_after

    @component.output_types(documents=list[Document])
    def run(
        self, documents: list[Document], top_k: int | None = None, leaders: list[str] | None = None
    ) -> dict[str, Any]:
        """
        :param documents: the ranked chunks, best first, with their talk and segment range in `meta`.
        :param top_k: how many passages at most (default: as set at construction).
        :param leaders: chunk ids to keep among the passages (`CandidateFusion`'s `leaders`).
        :returns: `documents`, the chosen chunks, best first.
        """
        limit = top_k or self.top_k
        by_id = {document.id: document for document in documents}
        waiting = [by_id[leader] for leader in leaders or [] if leader in by_id]
        ranked = iter(documents)
        chosen: list[Document] = []

        def distinct(document: Document) -> bool:
            return all(document.id != kept.id and overlap_share(document, kept) <= self.max_overlap for kept in chosen)

        while len(chosen) < limit:
            pick = None
            while len(chosen) >= self.leaders_after and waiting and pick is None:
                leader = waiting.pop(0)
                pick = leader if distinct(leader) else None
            if pick is None:
                pick = next((document for document in ranked if distinct(document)), None)
            if pick is None:
                break
            chosen.append(pick)
        return {"documents": chosen}


@component
class PassageHighlighter:
    """Turns chunks into `Passage`s and marks each one's sentences closest to the question.

    With `vectors` (a store with `sentence_vectors(chunk_ids)`, e.g. the SQLite store), the sentence embeddings
    stored at ingest are used; only chunks without them (other stores, talks ingested before) have their sentences
    embedded here by `embedder` (a `SentenceEmbedder`, default the packaged model's), loaded on first need.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.passages import PassageHighlighter
    from pipeline.embedding import text_embedder

    meta = {"talk_id": "demo", "title": "Why Apache", "first_segment": 0, "last_segment": 3, "start": 0.0}
    text = "Thanks for coming. We picked Apache so companies can contribute. Pricing came later."
    question = "Why did they pick Apache?"
    embedder = text_embedder()
    embedder.warm_up()
    highlighter = PassageHighlighter(highlights=1)  # no store: the chunk's sentences are embedded here
    result = highlighter.run(
        documents=[Document(id="demo:0-3", content=text, meta=meta, score=0.8)],
        query=question,
        query_embedding=embedder.run(text=question)["embedding"],
    )
    print(result["passages"][0].highlights)  # ['We picked Apache so companies can contribute.']
    ```
    """

    def __init__(
        self,
        highlights: int = 2,
        min_similarity: float = 0.2,
        vectors: Any = None,
        embedder: SentenceEmbedder | None = None,
    ) -> None:
        """
        :param highlights: sentences marked a passage, at most.
        :param min_similarity: a sentence scoring less is not marked.
        :param vectors: where stored sentence embeddings come from (not serialised: a store, given at build time).
        :param embedder: embeds the sentences of chunks without stored ones; it shows in pipeline dumps.
        """
        self.highlights = highlights
        self.min_similarity = min_similarity
        self.vectors = vectors
        self.embedder = embedder if embedder is not None else SentenceEmbedder()

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            highlights=self.highlights,
            min_similarity=self.min_similarity,
            embedder=component_to_dict(self.embedder, "embedder"),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PassageHighlighter:
        deserialize_component_inplace(data["init_parameters"], key="embedder")
        return default_from_dict(cls, data)

    def warm_up(self) -> None:
        """Nothing to load up front: the model is loaded only if some chunk has no stored sentence embeddings."""

    def _sentence_vectors(self, documents: list[Document], sentences: list[list[str]]) -> list[np.ndarray]:
        stored = self.vectors.sentence_vectors([doc.id for doc in documents]) if self.vectors is not None else {}
        found: list[np.ndarray | None] = []
        for document, group in zip(documents, sentences, strict=True):
            vectors = stored.get(document.id)
            found.append(vectors if vectors is not None and len(vectors) == len(group) else None)
        missing = [i for i, vectors in enumerate(found) if vectors is None]
        if missing:
            for i, vectors in zip(
                missing, self.embedder.embed([documents[i].content or "" for i in missing]), strict=True
            ):
                found[i] = vectors
        return [vectors for vectors in found if vectors is not None]

    @component.output_types(passages=list[Passage], sentence_scores=list[list[float]])
    def run(self, documents: list[Document], query: str, query_embedding: list[float] | np.ndarray) -> dict[str, Any]:
        """
        :param documents: the chosen chunks, best first.
        :param query: the question (its words add to a sentence's score).
        :param query_embedding: the question's vector, a list of floats or a NumPy array.
        :returns: `passages`, one `Passage` a chunk with its `highlights`, and `sentence_scores`: for each passage,
            each sentence's score (`split_sentences`), as `ExtractiveAnswerWriter` takes them.
        """
        sentences = [split_sentences(doc.content or "") for doc in documents]
        query_vector = np.asarray(query_embedding, dtype=np.float32)
        query_words = set(words(query))
        passages, scores = [], []
        for document, group, vectors in zip(
            documents, sentences, self._sentence_vectors(documents, sentences), strict=True
        ):
            similarities = vectors @ query_vector if len(group) else np.zeros(0)
            group_scores = [
                float(similarities[i]) + 0.02 * len(query_words & set(words(sentence)))
                for i, sentence in enumerate(group)
            ]
            ranked = sorted(range(len(group)), key=lambda i: -group_scores[i])[: self.highlights]
            best = [group[i] for i in sorted(ranked) if group_scores[i] >= self.min_similarity]
            passages.append(to_passage(document, best))
            scores.append(group_scores)
        return {"passages": passages, "sentence_scores": scores}


def to_passage(document: Document, highlights: list[str]) -> Passage:
    meta = document.meta
    return Passage(
        talk_id=meta["talk_id"],
        title=meta.get("title") or meta["talk_id"],
        text=document.content or "",
        score=round(float(document.score or 0.0), 6),
        first_segment=meta["first_segment"],
        last_segment=meta["last_segment"],
        start=meta.get("start"),
        end=meta.get("end"),
        speakers=list(meta.get("speakers") or []),
        url=youtube_url(meta.get("youtube_id"), meta.get("start")),
        highlights=highlights,
    )
