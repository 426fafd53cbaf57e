"""Chunk stores. The default keeps one file a talk in the workspace and serves queries from memory."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
from haystack import Document
from haystack.document_stores.in_memory import InMemoryDocumentStore

from pipeline.models import Transcript
from pipeline.workspace import WorkspaceError, atomic_write


def transcript_fingerprint(transcript: Transcript) -> str:
    """A hash of the cleaned transcript: an index entry built from other text is stale."""
    return hashlib.sha256(transcript.model_dump_json().encode()).hexdigest()[:16]


class WorkspaceIndex:
    """The embedded default store: `index/ID.npz` holds a talk's chunks, their embeddings and provenance.

    Each file is replaced atomically, so a talk is re-indexed as a whole (never duplicated) and readers always
    see a complete file. `document_store()` loads every talk into a Haystack `InMemoryDocumentStore`.
    """

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def _path(self, talk_id: str) -> Path:
        return self.index_dir / f"{talk_id}.npz"

    def replace_talk(self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict) -> None:
        embeddings = np.asarray([doc.embedding for doc in documents], dtype=np.float32)
        records = [{"id": doc.id, "content": doc.content, "meta": doc.meta} for doc in documents]
        header = {"talk_id": talk_id, "fingerprint": fingerprint, "settings": settings}
        buffer = io.BytesIO()
        np.savez(
            buffer, embeddings=embeddings, records=np.array(json.dumps(records)), header=np.array(json.dumps(header))
        )
        atomic_write(self._path(talk_id), buffer.getvalue())

    def remove_talk(self, talk_id: str) -> None:
        self._path(talk_id).unlink(missing_ok=True)

    def talk_ids(self) -> list[str]:
        return sorted(path.stem for path in self.index_dir.glob("*.npz")) if self.index_dir.exists() else []

    def header(self, talk_id: str) -> dict | None:
        path = self._path(talk_id)
        if not path.exists():
            return None
        with np.load(path) as data:
            return json.loads(str(data["header"]))

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
        store = InMemoryDocumentStore(embedding_similarity_function="cosine", shared=False)
        for talk_id in talk_ids if talk_ids is not None else self.talk_ids():
            store.write_documents(self.documents(talk_id))
        return store


def index_status(index: WorkspaceIndex, transcript: Transcript) -> str:
    """`indexed`, `stale` (the transcript changed since; `talks reindex` fixes it) or `not indexed`."""
    header = index.header(transcript.talk.id)
    if header is None:
        return "not indexed"
    return "indexed" if header.get("fingerprint") == transcript_fingerprint(transcript) else "stale"
