"""The memory store (`--store memory`, the default before SQLite): one file a talk in the workspace, served from
Haystack's in-memory store."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
from haystack.document_stores.in_memory import InMemoryDocumentStore

from pipeline.models import is_valid_talk_id
from pipeline.stores.base import ChunkStore, Facets, check_dimension
from pipeline.workspace import WorkspaceError, atomic_write, check_talk_id, file_error, inside

#: Reading a damaged `.npz` (numpy parses a zip of `.npy` arrays with their Python-literal headers) can raise
#: almost anything: BadZipFile, EOFError, zlib.error, NotImplementedError for a "version" a flipped byte made,
#: tokenize.TokenError from a header... The read is a pure parse of the file's bytes, so every Exception means
#: "damaged" (a seeded fuzz of truncations and byte flips found each of these).
_DAMAGED = Exception


class WorkspaceIndex(ChunkStore):
    """`index/ID.npz` holds a talk's chunks, their embeddings and provenance.

    Each file is replaced atomically, so a talk is re-indexed as a whole (never duplicated) and readers always
    see a complete file. Queries load every talk into a Haystack `InMemoryDocumentStore` (BM25 + embeddings).
    A damaged file (truncated, empty, overwritten) counts as not indexed (`header` is None, `problem` says why);
    reading its chunks is a `WorkspaceError` naming it; `talks reindex` rebuilds it.
    """

    kind = "memory"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._loaded: InMemoryDocumentStore | None = None

    def describe(self) -> str:
        return f"memory store {self.index_dir}"

    def _path(self, talk_id: str) -> Path:
        return inside(self.index_dir, self.index_dir / f"{check_talk_id(talk_id)}.npz")

    def _write_error(self, error: OSError, doing: str = "write") -> WorkspaceError:
        return file_error(error, self.index_dir.parent, doing)

    def replace_talk(self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict) -> None:
        check_dimension(documents, self.describe())
        embeddings = np.asarray([doc.embedding for doc in documents], dtype=np.float32)
        records = [{"id": doc.id, "content": doc.content, "meta": doc.meta} for doc in documents]
        header = {"talk_id": talk_id, "fingerprint": fingerprint, "settings": settings, "chunks": len(documents)}
        buffer = io.BytesIO()
        np.savez(
            buffer, embeddings=embeddings, records=np.array(json.dumps(records)), header=np.array(json.dumps(header))
        )
        path = self._path(talk_id)
        try:
            atomic_write(path, buffer.getvalue())
        except OSError as error:
            raise self._write_error(error) from None
        self._loaded = None

    def remove_talk(self, talk_id: str) -> None:
        try:
            self._path(talk_id).unlink(missing_ok=True)
        except OSError as error:
            raise self._write_error(error, "remove") from None
        self._loaded = None

    def talk_ids(self) -> list[str]:
        """Talks with an index file (a file whose name is no talk id is not ours and left alone)."""
        if not self.index_dir.is_dir():
            return []
        return sorted(path.stem for path in self.index_dir.glob("*.npz") if is_valid_talk_id(path.stem))

    def _header(self, talk_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """The header, or None and what is wrong with the file (None, None when there is no file)."""
        path = self._path(talk_id)
        if not path.exists():
            return None, None
        try:
            with np.load(path) as data:
                header = json.loads(str(data["header"]))
            if not isinstance(header, dict):
                raise ValueError("the header is not a mapping")
        except PermissionError as error:
            raise self._write_error(error, "read") from None
        except _DAMAGED as error:
            return None, self._damaged(path, error)
        header.setdefault("chunks", None)
        return header, None

    @staticmethod
    def _damaged(path: Path, error: BaseException) -> str:
        reason = str(error).splitlines()[0] if str(error).strip() else type(error).__name__
        size = path.stat().st_size if path.exists() else 0
        detail = "an empty file" if size == 0 else reason[:120]
        return f"{path}: damaged index file ({detail}): `talks reindex` rebuilds it"

    def header(self, talk_id: str) -> dict[str, Any] | None:
        return self._header(talk_id)[0]

    def problem(self, talk_id: str) -> str | None:
        """Why the talk's index file cannot be read (None when it reads, or there is none)."""
        return self._header(talk_id)[1]

    def documents(self, talk_id: str) -> list[Document]:
        path = self._path(talk_id)
        try:
            with np.load(path) as data:
                records = json.loads(str(data["records"]))
                embeddings = data["embeddings"]
            return [
                Document(id=record["id"], content=record["content"], meta=record["meta"], embedding=vector.tolist())
                for record, vector in zip(records, embeddings, strict=True)
            ]
        except PermissionError as error:
            raise self._write_error(error, "read") from None
        except _DAMAGED as error:
            raise WorkspaceError(self._damaged(path, error)) from None

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
