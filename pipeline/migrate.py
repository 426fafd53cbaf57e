"""Copying talks from one chunk store to another as they are: chunks, embeddings and headers, no re-embedding."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.models import MigratedTalk, MigrationReport
from pipeline.stores import ChunkStore, StoreError

__all__ = ["MigratedTalk", "MigrationReport", "migrate"]


def migrate(
    source: ChunkStore,
    target: ChunkStore,
    talk_ids: list[str] | None = None,
    on_talk: Callable[[MigratedTalk], None] | None = None,
) -> MigrationReport:
    """Copies each talk (all of them by default) and reads it back: the same chunk ids, count and fingerprint, or
    the talk is reported with what differs. A talk that fails does not stop the others."""
    known = source.talk_ids()
    chosen = talk_ids or known
    missing = [talk_id for talk_id in chosen if talk_id not in known]
    if missing:
        raise StoreError(f"{source.describe()} has no talk {', '.join(missing)} (talks: {', '.join(known) or 'none'})")
    results = []
    for talk_id in chosen:
        result = _copy_talk(source, target, talk_id)
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


def _copy_talk(source: ChunkStore, target: ChunkStore, talk_id: str) -> MigratedTalk:
    header = source.header(talk_id) or {}
    documents = source.documents(talk_id)
    try:
        target.replace_talk(talk_id, documents, header.get("fingerprint", ""), header.get("settings") or {})
        copied = target.documents(talk_id)
        copied_header = target.header(talk_id) or {}
    except StoreError as error:
        return MigratedTalk(talk_id=talk_id, chunks=len(documents), problem=str(error))
    result = MigratedTalk(talk_id=talk_id, chunks=len(documents), copied=len(copied))
    if sorted(doc.id for doc in copied) != sorted(doc.id for doc in documents):
        result.problem = f"{len(copied)} of {len(documents)} chunks arrived"
    elif copied_header.get("fingerprint") != header.get("fingerprint"):
        result.problem = "the copied header does not match"
    return result
