"""What every chunk store offers: talks replaced as a whole, a header per talk, and the two retrievers."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.models import Transcript

if TYPE_CHECKING:  # haystack (and with it torch) is not imported by commands that only read headers
    from haystack import Document

EMBEDDING_DIMENSION = 384  # all-MiniLM-L6-v2
# Kinds of stored sentence embeddings (stores that keep them record a talk's kind): each sentence embedded on its own,
# or pooled from its chunk's transformer pass (`pipeline.sentence_pooling`; fine for highlights, not for recaps)
OWN_SENTENCES = "own"
POOLED_SENTENCES = "pooled"
SENTENCE_KINDS = (OWN_SENTENCES, POOLED_SENTENCES)


class StoreError(Exception):
    """The store cannot be reached or used as configured; the message says which store and what is wrong."""


def transcript_fingerprint(transcript: Transcript) -> str:
    """A hash of the cleaned transcript: an index entry built from other text is stale."""
    return hashlib.sha256(transcript.model_dump_json().encode()).hexdigest()[:16]


@dataclass
class Facets:
    """The values the query filters accept, so a typo gets a message listing what exists."""

    talk_ids: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    speakers: list[str] = field(default_factory=list)

    @classmethod
    def from_metas(cls, metas: list[dict[str, Any]]) -> Facets:
        return cls(
            talk_ids=sorted({meta["talk_id"] for meta in metas}),
            events=sorted({meta["event"] for meta in metas if meta.get("event")}),
            speakers=sorted({meta["speaker"] for meta in metas if meta.get("speaker")}),
        )


def check_dimension(documents: list[Document], where: str, dimension: int = EMBEDDING_DIMENSION) -> None:
    for document in documents:
        if document.embedding is None or len(document.embedding) != dimension:
            size = "no" if document.embedding is None else len(document.embedding)
            raise StoreError(
                f"{where}: dimension mismatch: chunk {document.id} has {size} dimensions, the store holds {dimension}"
            )


class ChunkStore(ABC):
    """A place for embedded chunks. Each talk is written as a whole with a header (fingerprint of the transcript it
    was built from, the chunking settings, the chunk count); readers see the old talk or the new one."""

    kind: str = ""

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for messages (never a password)."""

    @abstractmethod
    def replace_talk(self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict) -> None:
        """Stores a talk's embedded chunks in place of any earlier version, then its header."""

    @abstractmethod
    def remove_talk(self, talk_id: str) -> None: ...

    @abstractmethod
    def talk_ids(self) -> list[str]:
        """Talks with a header, sorted."""

    @abstractmethod
    def header(self, talk_id: str) -> dict[str, Any] | None:
        """`{"talk_id", "fingerprint", "settings", "chunks"}`, or None when the talk is not in the store."""

    @abstractmethod
    def documents(self, talk_id: str) -> list[Document]:
        """A talk's chunks with their embeddings, in chunk order."""

    @abstractmethod
    def count_chunks(self) -> int: ...

    @abstractmethod
    def facets(self) -> Facets: ...

    @abstractmethod
    def retrievers(self, top_k: int) -> tuple[Any, Any]:
        """A keyword retriever (inputs `query`, `filters`, `top_k`) and an embedding retriever (`query_embedding`,
        `filters`, `top_k`), Haystack components over this store that take Haystack metadata filters."""

    def problem(self, talk_id: str) -> str | None:
        """Why the talk's entry cannot be read (a damaged file), in one line naming it; None when it reads or is
        absent. Stores that cannot hold damaged entries keep this default."""
        return None

    def close(self) -> None:  # noqa: B027 - stores without connections need nothing
        """Releases connections and locks."""

    def __enter__(self) -> ChunkStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def index_status(store: ChunkStore, transcript: Transcript) -> str:
    """`indexed`, `stale` (the transcript changed since; `talks reindex` fixes it), `not indexed`, or `damaged`
    (the entry cannot be read, `store.problem` says why; `talks reindex` rebuilds it)."""
    header = store.header(transcript.talk.id)
    if header is None:
        return "damaged" if store.problem(transcript.talk.id) else "not indexed"
    return "indexed" if header.get("fingerprint") == transcript_fingerprint(transcript) else "stale"
