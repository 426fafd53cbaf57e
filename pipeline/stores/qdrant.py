"""The Qdrant chunk store: a local folder (one process at a time) or a Qdrant server.

Chunks live in the collection `NAME_chunks` through Haystack's `QdrantDocumentStore`: a 384-dimensional dense vector
(cosine, HNSW on a server) and a BM25 sparse vector (`pipeline.stores.sparse`) whose query side Qdrant weighs by
IDF, so keyword retrieval scores like Okapi BM25. One header a talk lives in the payload-only collection
`NAME_talks`. A server's API key comes from `QDRANT_API_KEY` and is never written into a pipeline dump.
"""

from __future__ import annotations

import atexit
import copy
import functools
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import qdrant_client
from haystack import Document, component, default_from_dict, default_to_dict
from haystack.core.serialization import generate_qualified_class_name
from haystack.document_stores.errors import DocumentStoreError
from haystack.document_stores.types import DuplicatePolicy, FilterPolicy
from haystack.utils import Secret
from haystack_integrations.components.retrievers.qdrant import (
    QdrantEmbeddingRetriever,
    QdrantSparseEmbeddingRetriever,
)
from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
from haystack_integrations.document_stores.qdrant.converters import SPARSE_VECTORS_NAME, convert_id
from qdrant_client.http import models
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException, UnexpectedResponse

from pipeline.config import public_url
from pipeline.stores.base import EMBEDDING_DIMENSION, ChunkStore, Facets, StoreError, check_dimension
from pipeline.stores.sparse import BM25SparseEncoder, bm25_query_vector

API_KEY_VARIABLE = "QDRANT_API_KEY"
_TALK_NAMESPACE = uuid.UUID("0b0c5b8e-5f7e-4d1a-9a51-2f4f3c1d7a10")
_SCROLL = 256
_HNSW = {"m": 16, "ef_construct": 100}
_INDEXED_FIELDS = ("meta.talk_id", "meta.event", "meta.speaker")


# --- one client a local folder, shared by the process's stores -------------------------------------------------


class _SerialClient:
    """A `QdrantClient` whose calls run one at a time, so the threads of one process can share a local folder."""

    def __init__(self, client: qdrant_client.QdrantClient) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def serial(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return serial


@dataclass
class _Shared:
    raw: qdrant_client.QdrantClient
    client: _SerialClient
    users: int = 0


_LOCAL: dict[str, _Shared] = {}
_LOCAL_GUARD = threading.Lock()


def _open_local(path: str) -> _SerialClient:
    """The process's client for a local folder. Qdrant locks the folder: another process holding it raises."""
    key = os.path.realpath(path)
    with _LOCAL_GUARD:
        shared = _LOCAL.get(key)
        if shared is None:
            raw = qdrant_client.QdrantClient(path=key, force_disable_check_same_thread=True)
            shared = _LOCAL[key] = _Shared(raw, _SerialClient(raw))
        shared.users += 1
        return shared.client


def _close_local(path: str) -> None:
    """Releases one user of a local folder's client; the last one closes it and unlocks the folder."""
    key = os.path.realpath(path)
    with _LOCAL_GUARD:
        shared = _LOCAL.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del _LOCAL[key]
            with suppress(Exception):
                shared.raw.close()


@atexit.register
def _close_all_local() -> None:
    """Stores left open (a pipeline's writer) close at exit, before Python tears down the modules that closing needs
    (else `QdrantClient.__del__` prints an ignored ImportError)."""
    with _LOCAL_GUARD:
        shared = list(_LOCAL.values())
        _LOCAL.clear()
    for entry in shared:
        with suppress(Exception):
            entry.raw.close()


class _TalksDocumentStore(QdrantDocumentStore):
    """`QdrantDocumentStore` that shares one client a local folder within the process and serialises itself as a
    plain `QdrantDocumentStore` without credentials (no password in the URL; the API key as its variable's name)."""

    def _initialize_client(self) -> None:
        if self._client is not None:
            return
        if self._is_local():
            self._client = _open_local(self.path or "")  # type: ignore[assignment]
        else:
            params = self._prepare_client_params()
            params.setdefault("check_compatibility", False)  # no warning before our own connection message
            self._client = qdrant_client.QdrantClient(**params)
        try:
            self._set_up_collection(
                self.index,
                self.embedding_dim,
                self.recreate_index,
                self.similarity,
                self.use_sparse_embeddings,
                self.sparse_idf,
                self.on_disk,
                self.payload_fields_to_index,
            )
        except BaseException:
            self.close()
            raise

    def _is_local(self) -> bool:
        return self.path is not None and self.url is None and self.location is None

    @property
    def client(self) -> Any:
        """The connected client (a local folder's is shared and serialised)."""
        self._initialize_client()
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if self._is_local():
            _close_local(self.path or "")
        else:
            with suppress(Exception):
                client.close()

    def to_dict(self) -> dict[str, Any]:
        data = copy.deepcopy(super().to_dict())
        data["type"] = generate_qualified_class_name(QdrantDocumentStore)
        data["init_parameters"]["url"] = public_url(self.url)
        return data


# --- the keyword retriever --------------------------------------------------------------------------------------


@component
class QdrantBM25Retriever:
    """BM25 keyword retrieval over a `QdrantDocumentStore` whose documents carry BM25 sparse embeddings (see
    `pipeline.stores.sparse`) in a collection with the IDF modifier: the question becomes a sparse vector of its terms
    and Qdrant returns the chunks with the highest BM25 score. Takes Haystack metadata filters.

    Usage example:
    ```python
    import tempfile

    from haystack import Document
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    from pipeline.stores.qdrant import QdrantBM25Retriever
    from pipeline.stores.sparse import BM25SparseEncoder

    store = QdrantDocumentStore(
        path=tempfile.mkdtemp(), embedding_dim=4, use_sparse_embeddings=True, sparse_idf=True, progress_bar=False
    )
    chunks = [
        Document(content="We picked the Apache licence.", embedding=[1.0, 0.0, 0.0, 0.0]),
        Document(content="Pricing per seat scared small teams away.", embedding=[0.0, 1.0, 0.0, 0.0]),
    ]
    store.write_documents(BM25SparseEncoder().run(documents=chunks)["documents"])
    documents = QdrantBM25Retriever(document_store=store, top_k=5).run(query="What about pricing?")["documents"]
    print([document.content for document in documents])  # ['Pricing per seat scared small teams away.']
    store.close()
    ```
    """

    def __init__(
        self,
        document_store: QdrantDocumentStore,
        filters: dict[str, Any] | None = None,
        top_k: int = 10,
        filter_policy: str | FilterPolicy = FilterPolicy.REPLACE,
    ) -> None:
        if not isinstance(document_store, QdrantDocumentStore):
            raise ValueError("document_store must be an instance of QdrantDocumentStore")
        if not document_store.use_sparse_embeddings or not document_store.sparse_idf:
            raise ValueError("the document store needs use_sparse_embeddings=True and sparse_idf=True for BM25")
        self.document_store = document_store
        self.filters = filters
        self.top_k = top_k
        self.filter_policy = FilterPolicy.from_str(filter_policy) if isinstance(filter_policy, str) else filter_policy
        self._retriever = QdrantSparseEmbeddingRetriever(
            document_store, filters=filters, top_k=top_k, filter_policy=self.filter_policy
        )

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            document_store=self.document_store.to_dict(),
            filters=self.filters,
            top_k=self.top_k,
            filter_policy=self.filter_policy.value,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QdrantBM25Retriever:
        params = data["init_parameters"]
        params["document_store"] = QdrantDocumentStore.from_dict(params["document_store"])
        return default_from_dict(cls, data)

    def close(self) -> None:
        self.document_store.close()

    @component.output_types(documents=list[Document])
    def run(self, query: str, filters: dict[str, Any] | None = None, top_k: int | None = None) -> dict[str, Any]:
        """
        :param query: the question.
        :param filters: Haystack metadata filters, applied by the filter policy set at construction.
        :param top_k: how many chunks at most (default: as set at construction).
        :returns: `documents`, the chunks best first, `score` their BM25 score.
        """
        vector = bm25_query_vector(query)
        if not vector.indices:
            return {"documents": []}  # no word of two characters or more: nothing to match
        return self._retriever.run(query_sparse_embedding=vector, filters=filters, top_k=top_k)


# --- the store --------------------------------------------------------------------------------------------------


class QdrantChunkStore(ChunkStore):
    """Chunks in `COLLECTION_chunks` (dense + BM25 sparse vectors), a header a talk in `COLLECTION_talks`.

    A talk is replaced as a whole: its header is first marked incomplete, the new chunks are upserted under
    deterministic ids, the talk's leftover chunks deleted, and the complete header written last; a crash anywhere in
    between leaves the talk *stale* (rebuilt by `talks reindex`), never lost or duplicated. A local folder is locked
    by the first process that opens it: another one gets a `StoreError` (use a Qdrant server to share a store).
    """

    kind = "qdrant"

    def __init__(self, *, url: str | None = None, path: str | None = None, collection: str = "talks") -> None:
        if (url is None) == (path is None):
            raise StoreError("the Qdrant store needs either a server URL or a local folder, not both or neither")
        self.url = url
        self.path = path
        self.collection = collection
        self.chunk_collection = f"{collection}_chunks"
        self.talk_collection = f"{collection}_talks"
        self.encoder = BM25SparseEncoder()
        self._document_store = _TalksDocumentStore(
            url=url,
            path=path,
            api_key=Secret.from_env_var(API_KEY_VARIABLE, strict=False) if url else None,
            timeout=30 if url else None,
            index=self.chunk_collection,
            embedding_dim=EMBEDDING_DIMENSION,
            similarity="cosine",
            use_sparse_embeddings=True,
            sparse_idf=True,
            hnsw_config=dict(_HNSW),
            payload_fields_to_index=(
                [{"field_name": name, "field_schema": "keyword"} for name in _INDEXED_FIELDS] if url else None
            ),
            progress_bar=False,
            wait_result_from_api=True,
        )
        self._talks_ready = False
        try:
            self._connect()
        except BaseException:
            self.close()  # a collection we cannot use must not keep the folder locked
            raise

    # connection and errors

    def describe(self) -> str:
        where = f"server {public_url(self.url)}" if self.url else f"folder {self.path}"
        return f"qdrant store ({where}, collection {self.collection})"

    def _connect(self) -> Any:
        with self._errors("open"):
            client = self._document_store.client
            if not self._talks_ready:
                self._check_sparse(client)
                if not client.collection_exists(self.talk_collection):
                    client.create_collection(self.talk_collection, vectors_config={})
                self._talks_ready = True
            return client

    def _check_sparse(self, client: Any) -> None:
        """Keyword scores are BM25 only where Qdrant weighs the sparse vectors by IDF."""
        sparse = client.get_collection(self.chunk_collection).config.params.sparse_vectors or {}
        params = sparse.get(SPARSE_VECTORS_NAME)
        if params is None or params.modifier != models.Modifier.IDF:
            raise StoreError(
                f"{self.describe()}: collection {self.chunk_collection} was not made by this tool (no BM25 sparse "
                "vectors with IDF); use another store name or delete the collection"
            )

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Qdrant's and the client's exceptions as one-line `StoreError`s naming the store."""
        try:
            yield
        except StoreError:
            raise
        except RuntimeError as error:
            if "already accessed by another instance" in str(error):
                raise StoreError(
                    f"Qdrant folder {self.path} is in use by another process; use a Qdrant server (--store-url) "
                    "for concurrent access"
                ) from None
            raise StoreError(f"{self.describe()}: cannot {action}: {error}") from None
        except ResponseHandlingException as error:
            cause = error.source if getattr(error, "source", None) is not None else error
            raise StoreError(f"cannot reach the Qdrant server at {public_url(self.url)}: {_one_line(cause)}") from None
        except UnexpectedResponse as error:
            if error.status_code in (401, 403):
                raise StoreError(
                    f"the Qdrant server at {public_url(self.url)} refused access ({error.status_code} "
                    f"{error.reason_phrase}): set {API_KEY_VARIABLE}"
                ) from None
            raise StoreError(
                f"{self.describe()}: cannot {action}: the server answered {error.status_code} {error.reason_phrase}"
            ) from None
        except ValueError as error:
            message = str(error)
            if "vector size" in message:
                found = re.search(r"vector size '?(\d+)", message)
                raise StoreError(
                    f"{self.describe()}: dimension mismatch: collection {self.chunk_collection} holds "
                    f"{found.group(1) if found else 'other'}-dimensional vectors, the embedding model makes "
                    f"{EMBEDDING_DIMENSION}; use another store name or delete the collection"
                ) from None
            raise StoreError(f"{self.describe()}: cannot {action}: {_one_line(error)}") from None
        except DocumentStoreError as error:
            if "sparse" in str(error):
                raise StoreError(
                    f"{self.describe()}: collection {self.chunk_collection} was not made by this tool (no BM25 sparse "
                    "vectors); use another store name or delete the collection"
                ) from None
            raise StoreError(f"{self.describe()}: cannot {action}: {_one_line(error)}") from None
        except (ApiException, OSError) as error:
            raise StoreError(f"{self.describe()}: cannot {action}: {_one_line(error)}") from None

    def _run(self, action: str, call: Callable[[Any], Any]) -> Any:
        with self._errors(action):
            return call(self._connect())

    def close(self) -> None:
        self._document_store.close()
        self._talks_ready = False

    # writing

    def _talk_point(self, talk_id: str) -> str:
        return str(uuid.uuid5(_TALK_NAMESPACE, talk_id))

    def _write_header(self, client: Any, header: dict[str, Any]) -> None:
        point = models.PointStruct(id=self._talk_point(header["talk_id"]), vector={}, payload=header)
        client.upsert(self.talk_collection, points=[point], wait=True)

    def _talk_filter(self, talk_id: str) -> models.Filter:
        return models.Filter(must=[models.FieldCondition(key="meta.talk_id", match=models.MatchValue(value=talk_id))])

    def replace_talk(self, talk_id: str, documents: list[Document], fingerprint: str, settings: dict) -> None:
        check_dimension(documents, self.describe())
        header = {
            "talk_id": talk_id,
            "fingerprint": fingerprint,
            "settings": settings,
            "chunks": len(documents),
            "encoding": self.encoder.signature(),
        }
        encoded = self.encoder.run(documents)["documents"]
        keep = [convert_id(document.id) for document in documents]

        def write(client: Any) -> None:
            self._write_header(client, {**header, "complete": False})
            if encoded:
                self._document_store.write_documents(encoded, policy=DuplicatePolicy.OVERWRITE)
            leftovers = self._talk_filter(talk_id)
            leftovers.must_not = [models.HasIdCondition(has_id=keep)] if keep else None
            client.delete(self.chunk_collection, points_selector=models.FilterSelector(filter=leftovers), wait=True)
            self._write_header(client, {**header, "complete": True})

        self._run(f"store talk {talk_id}", write)

    def remove_talk(self, talk_id: str) -> None:
        def remove(client: Any) -> None:
            old = self._stored_header(client, talk_id)
            if old is not None:
                self._write_header(client, {**old, "complete": False})
            selector = models.FilterSelector(filter=self._talk_filter(talk_id))
            client.delete(self.chunk_collection, points_selector=selector, wait=True)
            client.delete(self.talk_collection, points_selector=[self._talk_point(talk_id)], wait=True)

        self._run(f"remove talk {talk_id}", remove)

    # reading

    def _scroll(self, client: Any, collection: str, **options: Any) -> Iterator[Any]:
        offset = None
        while True:
            records, offset = client.scroll(collection, limit=_SCROLL, offset=offset, with_vectors=False, **options)
            yield from records
            if offset is None:
                return

    def _stored_header(self, client: Any, talk_id: str) -> dict[str, Any] | None:
        records = client.retrieve(self.talk_collection, ids=[self._talk_point(talk_id)], with_payload=True)
        return dict(records[0].payload or {}) if records else None

    def talk_ids(self) -> list[str]:
        return self._run(
            "list talks",
            lambda client: sorted(
                record.payload["talk_id"] for record in self._scroll(client, self.talk_collection, with_payload=True)
            ),
        )

    def header(self, talk_id: str) -> dict[str, Any] | None:
        stored = self._run(f"read talk {talk_id}", lambda client: self._stored_header(client, talk_id))
        if stored is None:
            return None
        current = stored.get("complete") and stored.get("encoding") == self.encoder.signature()
        return {
            "talk_id": stored.get("talk_id", talk_id),
            "fingerprint": stored.get("fingerprint") if current else None,  # incomplete or old encoding: stale
            "settings": stored.get("settings") or {},
            "chunks": stored.get("chunks"),
        }

    def documents(self, talk_id: str) -> list[Document]:
        filters = {"field": "meta.talk_id", "operator": "==", "value": talk_id}
        found = self._run(f"read talk {talk_id}", lambda _client: self._document_store.filter_documents(filters))
        documents = [
            Document(id=document.id, content=document.content, meta=document.meta, embedding=document.embedding)
            for document in found
        ]
        return sorted(documents, key=lambda document: document.meta.get("first_segment", 0))

    def count_chunks(self) -> int:
        return self._run("count chunks", lambda client: client.count(self.chunk_collection, exact=True).count)

    def facets(self) -> Facets:
        def metas(client: Any) -> list[dict[str, Any]]:
            records = self._scroll(client, self.chunk_collection, with_payload=["meta"])
            return [(record.payload or {}).get("meta") or {} for record in records]

        return Facets.from_metas([meta for meta in self._run("read facets", metas) if meta.get("talk_id")])

    def retrievers(self, top_k: int) -> tuple[QdrantBM25Retriever, QdrantEmbeddingRetriever]:
        self._connect()
        return (
            QdrantBM25Retriever(self._document_store, top_k=top_k),
            QdrantEmbeddingRetriever(self._document_store, top_k=top_k),
        )


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
