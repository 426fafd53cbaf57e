"""From ranked chunks to passages: the best distinct ones, their sentences closest to the question highlighted."""

from __future__ import annotations

from typing import Any

import numpy as np
from haystack import Document, component

from pipeline.embedding import document_embedder
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
    """Turns chunks into `Passage`s and marks each one's sentences closest to the question."""

    def __init__(self, highlights: int = 2, min_similarity: float = 0.2) -> None:
        self.highlights = highlights
        self.min_similarity = min_similarity
        self._embedder = None

    def warm_up(self) -> None:
        if self._embedder is None:
            self._embedder = document_embedder()
            self._embedder.warm_up()

    @component.output_types(passages=list[Passage], sentence_scores=list[list[float]])
    def run(self, documents: list[Document], query: str, query_embedding: list[float]) -> dict[str, Any]:
        self.warm_up()
        sentences = [split_sentences(doc.content or "") for doc in documents]
        flat = [Document(content=s) for group in sentences for s in group]
        embedded = self._embedder.run(documents=flat)["documents"] if flat else []
        vectors = np.asarray([d.embedding for d in embedded], dtype=np.float32).reshape(len(embedded), -1)
        query_words = set(words(query))
        similarities = vectors @ np.asarray(query_embedding, dtype=np.float32) if len(flat) else np.zeros(0)
        passages, scores, offset = [], [], 0
        for document, group in zip(documents, sentences, strict=True):
            group_scores = [
                float(similarities[offset + i]) + 0.02 * len(query_words & set(words(sentence)))
                for i, sentence in enumerate(group)
            ]
            offset += len(group)
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
