"""The embedded default store: one file a talk in the workspace, served from Haystack's in-memory store."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

from pipeline.stores.base import ChunkStore, Facets, check_dimension
from pipeline.workspace import WorkspaceError, atomic_write


class WorkspaceIndex(ChunkStore):
    """`index/ID.npz` holds a talk's chunks, their embeddings and provenance.

    Each file is replaced atomically, so a talk is re-indexed as a whole (never duplicated) and readers always
    see a complete file. Queries load every talk into a Haystack `InMemoryDocumentStore` (BM25 + embeddings).
    """

    kind = "memory"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._loaded: InMemoryDocumentStore | None = None

    def describe(self) -> str:
        return f"memory store {self.index_dir}"

    def _path(self, talk_id: str) -> Path:
        return self.index_dir / f"{talk_id}.npz"

    def replace_talk(self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict) -> None:
        check_dimension(documents, self.describe())
        embeddings = np.asarray([doc.embedding for doc in documents], dtype=np.float32)
        records = [{"id": doc.id, "content": doc.content, "meta": doc.meta} for doc in documents]
        header = {"talk_id": talk_id, "fingerprint": fingerprint, "settings": settings, "chunks": len(documents)}
        buffer = io.BytesIO()
        np.savez(
            buffer, embeddings=embeddings, records=np.array(json.dumps(records)), header=np.array(json.dumps(header))
        )
        atomic_write(self._path(talk_id), buffer.getvalue())
        self._loaded = None

    def remove_talk(self, talk_id: str) -> None:
        self._path(talk_id).unlink(missing_ok=True)
        self._loaded = None

    def talk_ids(self) -> list[str]:
        return sorted(path.stem for path in self.index_dir.glob("*.npz")) if self.index_dir.exists() else []

    def header(self, talk_id: str) -> dict[str, Any] | None:
        path = self._path(talk_id)
        if not path.exists():
            return None
        try:
            with np.load(path) as data:
                header = json.loads(str(data["header"]))
        except (OSError, ValueError, KeyError):
            return None  # a damaged file counts as not indexed: `talks reindex` rebuilds it
        header.setdefault("chunks", None)
        return header

    def documents(self, talk_id: str) -> list[Document]:
        path = self._path(talk_id)
        try:
            with np.load(path) as data:
                records = json.loads(str(data["records"]))
                embeddings = data["embeddings"]
        except (OSError, ValueError, KeyError) as error:
            raise WorkspaceError(f"{path}: damaged index file ({error}); run `talks reindex`") from None
        return [
            Document(id=record["id"], content=record["content"], meta=record["meta"], embedding=vector.tolist())
            for record, vector in zip(records, embeddings, strict=True)
        ]

    def document_store(self, talk_ids: list[str] | None = None) -> InMemoryDocumentStore:
        """Every talk (or the given ones) loaded into a fresh in-memory store."""
        store = InMemoryDocumentStore(embedding_similarity_function="cosine", shared=False)
        for talk_id in talk_ids if talk_ids is not None else self.talk_ids():
            store.write_documents(self.documents(talk_id))
        return store

    def _store(self) -> InMemoryDocumentStore:
        if self._loaded is None:
            self._loaded = self.document_store()
        return self._loaded

    def count_chunks(self) -> int:
        return self._store().count_documents()

    def facets(self) -> Facets:
        return Facets.from_metas([doc.meta for doc in self._store().filter_documents()])

    def retrievers(self, top_k: int) -> tuple[InMemoryBM25Retriever, InMemoryEmbeddingRetriever]:
        store = self._store()
        return InMemoryBM25Retriever(store, top_k=top_k), InMemoryEmbeddingRetriever(store, top_k=top_k)
