"""Copying talks from one chunk store to another as they are: chunks, embeddings and headers, no re-embedding of
chunks. A target that keeps sentence embeddings for highlighting (the SQLite store) gets them too: copied when the
source has them, else computed here with the packaged model, as ingest would have; with their kind (the source's, or
`SentenceEmbedder`'s), so that recaps know whether they are the sentences' own."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline.models import MigratedTalk, MigrationReport
from pipeline.stores import ChunkStore, StoreError
from pipeline.stores.base import OWN_SENTENCES, POOLED_SENTENCES

if TYPE_CHECKING:
    from haystack import Document

    from pipeline.embedding import SentenceEmbedder

__all__ = ["MigratedTalk", "MigrationReport", "migrate"]


def migrate(
    source: ChunkStore,
    target: ChunkStore,
    talk_ids: list[str] | None = None,
    on_talk: Callable[[MigratedTalk], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> MigrationReport:
    """Copies each talk (all of them by default) and reads it back: the same chunk ids, count and fingerprint (and
    sentence embeddings for every chunk, where the target keeps them), or the talk is reported with what differs.
    A talk that fails does not stop the others. `on_start(talk_id)` and `on_talk(result)` follow the progress."""
    known = source.talk_ids()
    chosen = talk_ids or known
    missing = [talk_id for talk_id in chosen if talk_id not in known]
    if missing:
        raise StoreError(f"{source.describe()} has no talk {', '.join(missing)} (talks: {', '.join(known) or 'none'})")
    sentences = _Sentences(source) if getattr(target, "keeps_sentence_vectors", False) else None
    results = []
    for talk_id in chosen:
        if on_start:
            on_start(talk_id)
        result = _copy_talk(source, target, talk_id, sentences)
        results.append(result)
        if on_talk:
            on_talk(result)
    return MigrationReport(
        source=source.describe(),
        target=target.describe(),
        talks=results,
        source_chunks=sum(result.chunks for result in results),
        target_chunks=sum(result.copied for result in results),
    )


class _Sentences:
    """Each chunk's sentence embeddings for a target that keeps them: the source's stored ones where it has them
    for a chunk, the others embedded with `SentenceEmbedder` (loaded on first need)."""

    def __init__(self, source: ChunkStore) -> None:
        self.source = source
        self._embedder: SentenceEmbedder | None = None

    def vectors(self, talk_id: str, documents: list[Document]) -> tuple[list[Any], str]:
        """Each chunk's sentence embeddings and their kind: the sentences' `own` only if every chunk's are."""
        stored: dict[str, Any] = {}
        kinds = set()
        if getattr(self.source, "keeps_sentence_vectors", False):
            stored = self.source.sentence_vectors([doc.id for doc in documents])  # type: ignore[attr-defined]
            if stored:
                kinds.add((self.source.header(talk_id) or {}).get("sentence_kind") or POOLED_SENTENCES)
        missing = [i for i, doc in enumerate(documents) if doc.id not in stored]
        found: list[Any] = [stored.get(doc.id) for doc in documents]
        if missing:
            from pipeline.embedding import SentenceEmbedder

            if self._embedder is None:
                self._embedder = SentenceEmbedder()
            embedded = self._embedder.embed([documents[i].content or "" for i in missing])
            for i, vectors in zip(missing, embedded, strict=True):
                found[i] = vectors
            kinds.add(SentenceEmbedder.kind())
        return found, OWN_SENTENCES if kinds == {OWN_SENTENCES} else POOLED_SENTENCES


def _copy_talk(source: ChunkStore, target: ChunkStore, talk_id: str, sentences: _Sentences | None) -> MigratedTalk:
    header = source.header(talk_id) or {}
    documents = source.documents(talk_id)
    try:
        extra: dict[str, Any] = {}
        if sentences:
            extra["sentence_vectors"], extra["sentence_kind"] = sentences.vectors(talk_id, documents)
        target.replace_talk(talk_id, documents, header.get("fingerprint", ""), header.get("settings") or {}, **extra)
        copied = target.documents(talk_id)
        copied_header = target.header(talk_id) or {}
        with_sentences = target.sentence_vectors([doc.id for doc in copied]) if sentences else {}  # type: ignore[attr-defined]
    except StoreError as error:
        return MigratedTalk(talk_id=talk_id, chunks=len(documents), problem=str(error))
    result = MigratedTalk(talk_id=talk_id, chunks=len(documents), copied=len(copied))
    if sorted(doc.id for doc in copied) != sorted(doc.id for doc in documents):
        result.problem = f"{len(copied)} of {len(documents)} chunks arrived"
    elif copied_header.get("fingerprint") != header.get("fingerprint"):
        result.problem = "the copied header does not match"
    elif sentences and len(with_sentences) != len(copied):
        result.problem = f"sentence embeddings arrived for {len(with_sentences)} of {len(copied)} chunks"
    return result
