"""From ranked chunks to passages: the best distinct ones, their sentences closest to the question highlighted."""

from __future__ import annotations

from dataclasses import replace
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


def _label_free(text: str) -> str:
    """The text without a leading `Name: ` speaker label (`format_turns` opens a chunk with one)."""
    head, colon, rest = text.partition(": ")
    return rest if colon and 0 < len(head) <= 60 and "\n" not in head and "." not in head else text


def joined_text(earlier: str, later: str) -> str | None:
    """`earlier` continued by what `later` (a window starting inside it) adds after their shared segments, or None
    when the shared text is not found (the overlap is matched as text: a chunk keeps no per-segment offsets)."""
    for candidate in dict.fromkeys((later, _label_free(later))):
        probe = candidate[:40]
        start = earlier.find(probe) if probe else -1
        while start >= 0:
            if candidate.startswith(earlier[start:]):
                added = candidate[len(earlier) - start :]
                return earlier + added if added.strip() else None
            start = earlier.find(probe, start + 1)
    return None


def trimmed(passage: Document, other: Document, before: bool) -> Document | None:
    """A grown `passage` cut back to where `other` (a passage it has grown into, before or after it) ends or
    starts, so the two share no segment; None if nothing of the growth is left or the texts do not match. A chunk
    keeps no per-segment times: the cut end's time is the other passage's (its start for an end, its end for a
    start), the pause between the two segments at most."""
    text = passage.content or ""
    meta, edge = dict(passage.meta), other.meta
    if before:
        if not edge["first_segment"] <= meta["first_segment"] <= edge["last_segment"] < meta["last_segment"]:
            return None
        joined = joined_text(other.content or "", text)
        if joined is None:
            return None
        text = joined[len(other.content or "") :].lstrip()
        meta.update(first_segment=edge["last_segment"] + 1, start=edge.get("end"))
    else:
        if not meta["first_segment"] < edge["first_segment"] <= meta["last_segment"] <= edge["last_segment"]:
            return None
        shared = joined_text(text, other.content or "")
        if shared is None:
            return None
        start = len(shared) - len(_tail(shared, other.content or ""))
        text = text[:start].rstrip()
        meta.update(last_segment=edge["first_segment"] - 1, end=edge.get("start"))
    if meta["first_segment"] > meta["last_segment"] or not text:
        return None
    return replace(passage, content=text, meta=meta)


def _tail(joined: str, later: str) -> str:
    """The part of `later` that `joined` ends with (the whole of it, or it without its leading label)."""
    return later if joined.endswith(later) else _label_free(later)


def grown(passage: Document, neighbour: Document) -> Document | None:
    """`passage` grown to also cover `neighbour`, an overlapping chunk of the same talk that reaches past one end
    of it (text, segment range, times and speakers joined; the passage's score kept), or None if it adds nothing
    or the texts do not join."""
    meta, other = passage.meta, neighbour.meta
    if other["last_segment"] > meta["last_segment"] and other["first_segment"] >= meta["first_segment"]:
        earlier, later, before = passage, neighbour, False
    elif other["first_segment"] < meta["first_segment"] and other["last_segment"] <= meta["last_segment"]:
        earlier, later, before = neighbour, passage, True
    else:
        return None
    text = joined_text(earlier.content or "", later.content or "")
    if text is None:
        return None
    speakers = list(dict.fromkeys([*(earlier.meta.get("speakers") or []), *(later.meta.get("speakers") or [])]))
    first, last = earlier.meta, later.meta
    new_meta = {
        **meta,
        "first_segment": first["first_segment"],
        "last_segment": last["last_segment"],
        "start": first.get("start"),
        "end": last.get("end"),
        "speakers": speakers,
        "grown_from": meta.get("grown_from", passage.id),
        "grown_parts": {
            **meta.get("grown_parts", {passage.id: passage.content or ""}),
            neighbour.id: neighbour.content,
        },
        "grown_before" if before else "grown_after": neighbour.id,
    }
    # a new id: the store's sentence vectors are a chunk's, so the highlighter embeds the grown text itself
    ids = f"{earlier.id}+{later.id}"
    return replace(passage, id=ids, content=text, meta=new_meta)


@component
class PassageSelector:
    """Keeps the best `top_k` chunks, skipping any that overlaps a better one from the same talk by more than
    `max_overlap` (a share of the shorter one; by default any overlap), so the passages cover distinct stretches.

    `leaders` (chunk ids, e.g. each retriever's best match from `RankFusion`) come right after the first
    `leaders_after` passages, unless a stretch already chosen covers them; then the rest by score. The order is the
    same for every `top_k`, so the best 3 passages are the first 3 of the best 5 (grown, nearly so: a growth stops
    before every passage picked, so a larger `top_k` can cut one shorter).

    With `grow`, a chunk skipped for overlapping a passage, yet ranked above the next passage picked by score,
    grows that passage instead of being lost: at most once on each side, the best such chunk reaching past its
    start and the best reaching past its end (never into another passage), so a point that runs on past a
    window's edge ("Three reasons. One, ... Two, ..." / "And three, ...") is read whole.

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

    def __init__(self, top_k: int = 5, max_overlap: float = 0.0, leaders_after: int = 1, grow: bool = False) -> None:
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        if leaders_after < 0:
            raise ValueError("leaders_after must not be negative")
        self.top_k = top_k
        self.max_overlap = max_overlap
        self.leaders_after = leaders_after
        self.grow = grow

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

        scored: list[bool] = []  # each pick: from the ranking (not a leader)
        while len(chosen) < limit:
            pick = None
            while len(chosen) >= self.leaders_after and waiting and pick is None:
                leader = waiting.pop(0)
                pick = leader if distinct(leader) else None
            from_ranking = pick is None
            if pick is None:
                pick = next((document for document in ranked if distinct(document)), None)
            if pick is None:
                break
            chosen.append(pick)
            scored.append(from_ranking)
        if self.grow:
            following = next((document for document in ranked if distinct(document)), None)  # the next pick
            chosen = self._grown(documents, chosen, scored, following)
        return {"documents": chosen}

    def _grown(
        self, documents: list[Document], chosen: list[Document], scored: list[bool], following: Document | None
    ) -> list[Document]:
        """`chosen`, each grown by the skipped chunks ranked above the next passage picked by score (see the
        class): a bound that does not depend on `top_k`, and not on a leader, which may come from far down. A growth
        stops before the next pick too (`following`), so the first passages are the same for a larger `top_k`."""
        rank: dict[str, int] = {}
        for position, document in enumerate(documents):
            rank.setdefault(document.id, position)
        end = rank[following.id] if following is not None else len(documents)
        bounds = [
            next((rank[chosen[j].id] for j in range(i + 1, len(chosen)) if scored[j]), end) for i in range(len(chosen))
        ]
        kept = {document.id for document in chosen}
        result = list(chosen)
        sides: set[tuple[int, bool]] = set()
        for position, document in enumerate(documents[: max(bounds, default=0)]):
            if document.id in kept or rank[document.id] != position:
                continue
            for i, passage in enumerate(result):
                if overlap_share(document, passage) <= self.max_overlap:
                    continue
                before = document.meta["first_segment"] < passage.meta["first_segment"]
                bigger = grown(passage, document) if position < bounds[i] and (i, before) not in sides else None
                for other in [other for j, other in enumerate(result) if j != i] + ([following] if following else []):
                    if bigger is not None and overlap_share(bigger, other) > self.max_overlap:
                        bigger = trimmed(bigger, other, before)  # only up to the other passage
                if bigger is not None:
                    result[i] = bigger
                    sides.add((i, before))
                break  # a skipped chunk grows the best passage it overlaps, or none
        return result


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
        ids = [doc.id for doc in documents] + [part for doc in documents for part in doc.meta.get("grown_parts", {})]
        stored = self.vectors.sentence_vectors(list(dict.fromkeys(ids))) if self.vectors is not None else {}
        found: list[np.ndarray | None] = []
        for document, group in zip(documents, sentences, strict=True):
            vectors = stored.get(document.id)
            if "grown_parts" in document.meta:
                vectors = _composed(group, document.meta["grown_parts"], stored)
            found.append(vectors if vectors is not None and len(vectors) == len(group) else None)
        missing = [i for i, vectors in enumerate(found) if vectors is None]
        if missing:
            for i, vectors in zip(
                missing, self.embedder.embed([documents[i].content or "" for i in missing]), strict=True
            ):
                found[i] = vectors
        return [vectors for vectors in found if vectors is not None]

    @component.output_types(passages=list[Passage], sentence_scores=list[list[float]], sentence_vectors=list[Any])
    def run(self, documents: list[Document], query: str, query_embedding: list[float] | np.ndarray) -> dict[str, Any]:
        """
        :param documents: the chosen chunks, best first.
        :param query: the question (its words add to a sentence's score).
        :param query_embedding: the question's vector, a list of floats or a NumPy array.
        :returns: `passages`, one `Passage` a chunk with its `highlights`, and `sentence_scores`: for each passage,
            each sentence's score (`split_sentences`), as `ExtractiveAnswerWriter` takes them, and `sentence_vectors`:
            for each passage, its sentences' vectors (an array, a row a sentence) the scores come from.
        """
        sentences = [split_sentences(doc.content or "") for doc in documents]
        query_vector = np.asarray(query_embedding, dtype=np.float32)
        query_words = set(words(query))
        passages, scores = [], []
        found = self._sentence_vectors(documents, sentences)
        for document, group, vectors in zip(documents, sentences, found, strict=True):
            similarities = vectors @ query_vector if len(group) else np.zeros(0)
            group_scores = [
                float(similarities[i]) + 0.02 * len(query_words & set(words(sentence)))
                for i, sentence in enumerate(group)
            ]
            ranked = sorted(range(len(group)), key=lambda i: -group_scores[i])[: self.highlights]
            best = [group[i] for i in sorted(ranked) if group_scores[i] >= self.min_similarity]
            passages.append(to_passage(document, best))
            scores.append(group_scores)
        return {"passages": passages, "sentence_scores": scores, "sentence_vectors": found}


def _composed(group: list[str], parts: dict[str, str], stored: dict[str, np.ndarray]) -> np.ndarray | None:
    """A grown passage's sentence vectors from its chunks' stored ones (each sentence as one of its chunks holds
    it, the first chunk's first; a fragment left where a growth was cut back takes its whole sentence's, a sentence
    joined across two chunks its longest piece's), or None if a sentence shares no piece with them."""
    by_sentence: dict[str, np.ndarray] = {}
    for chunk_id, text in parts.items():
        vectors, pieces = stored.get(chunk_id), split_sentences(text)
        if vectors is not None and len(vectors) == len(pieces):
            for piece, vector in zip(pieces, vectors, strict=True):
                by_sentence.setdefault(piece, vector)
    rows = [by_sentence.get(sentence) for sentence in group]
    for position, row in enumerate(rows):
        if row is None:  # cut back mid-sentence: a fragment takes the vector of the sentence it is part of, and a
            # sentence joined across chunks that of its longest piece, rather than embedding the passage again
            sentence = group[position]
            inside = [(len(piece), v) for piece, v in by_sentence.items() if sentence in piece or piece in sentence]
            rows[position] = max(inside, key=lambda pair: pair[0])[1] if inside else None
    if not rows or any(row is None for row in rows):
        return None
    return np.stack(rows)


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
